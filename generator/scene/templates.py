"""Particle shapes: a class template prepared once, then rotated per particle.

A particle is made exactly as :mod:`tomobench.euler` defines it: the template
(``[z, y, x]``, centre voxel ``n // 2``) is turned by ``R`` with cubic-spline
interpolation (:func:`tomobench.rotate.rotate_volume`'s convention, so sub-voxel
accurate) and placed with its centre voxel on the particle's integer centre.

The spline coefficients of each template are computed once per class and only
the voxels that the rotated support of the template can reach are interpolated
(the support, ``template > 1e-3 * max``, mapped forward by ``R``, rounded and
dilated by one voxel), at a fraction of the cost: those voxels hold
``rotate_volume``'s values, and what is left out elsewhere is the template's tail
below the support cut (tested: within 5e-3 of the peak everywhere).

**Mask threshold.** A particle's mask (its voxels in ``class_mask`` and
``occupancy_mask``) is ``rotated_density >= mask_threshold * max(template)``
with ``mask_threshold = 0.1`` by default (``SceneParams.mask_threshold``),
united with the rotated *solid* mask of the class (:func:`solid_mask`): the
thresholded template with its cavities filled (rings, barrels) and, where the
centre of mass lies outside the protein (a horseshoe), the straight path from
the centre to the nearest protein voxel. The SHREC scorer reads the mask at the
pick, so a pick at a particle's true centre must land on that particle.

**Ball models** (Å in the library, voxels here) are the broad phase of the
packer. A class without one gets balls from k-means of its mask voxels (one
ball per ~80 voxels, 4 to 32 balls), each radius reaching the farthest voxel
centre of its cluster: balls that enclose two particles' voxel centres and do
not overlap guarantee that the particles share no voxel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.cluster.vq import kmeans2

from tomobench.euler import zyx_matrix
from tomobench.volumes import box_centre

SUPPORT_FRACTION = 1e-3   # template voxels above this x max count as support (interpolated region)


@dataclass
class Shape:
    """A class ready to be placed; lengths in voxels, vectors ``(x, y, z)`` relative to the centre."""

    name: str
    label: int
    coeffs: np.ndarray        # spline coefficients of the template, float64 [z, y, x]
    solid: np.ndarray         # the solid mask (solid_mask) as float32 0/1, interpolated linearly
    centre_zyx: np.ndarray    # template centre voxel (n // 2)
    support_xyz: np.ndarray   # (m, 3) support voxels relative to the centre
    threshold: float          # absolute mask threshold
    balls: np.ndarray         # (k, 4) x, y, z, r of the multi-ball model (voxels, template frame)
    mask_volume_vox: int      # voxels of the unrotated mask
    zmin_vox: float           # lowest mask z (template frame), used to seat membrane-bound particles
    mask_radius_vox: float    # farthest mask voxel centre from the centre

    @property
    def radius_vox(self) -> float:
        """Radius of the ball centred on the centre that encloses every ball."""
        return float(np.max(np.linalg.norm(self.balls[:, :3], axis=1) + self.balls[:, 3]))

    @property
    def eff_radius_vox(self) -> float:
        """Radius of the sphere with the mask's volume."""
        return float((3 * self.mask_volume_vox / (4 * np.pi)) ** (1 / 3))

    def single_ball(self) -> np.ndarray:
        """One ball ``(1, 4)`` at the centre enclosing the mask (the ``singleball`` broad phase)."""
        return np.array([[0.0, 0.0, 0.0, self.radius_vox]])


def prepare_shape(name: str, label: int, template: np.ndarray, balls_a: np.ndarray | None,
                  voxel_size_a: float, mask_threshold: float, *, n_auto_balls: int | None = None,
                  seed: int = 0) -> Shape:
    """Precompute what placing particles of one class needs (see the module docstring)."""
    template = np.asarray(template, dtype=np.float32)
    if template.ndim != 3 or min(template.shape) < 1:
        raise ValueError(f"template of {name!r} must be a 3D array, got shape {template.shape}")
    peak = float(template.max())
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"template of {name!r} has no positive density")
    centre = box_centre(template.shape)
    threshold = mask_threshold * peak
    mask = solid_mask(template >= threshold, centre.astype(int))
    support = np.argwhere((template > SUPPORT_FRACTION * peak) | mask)
    mask_xyz = (np.argwhere(mask) - centre)[:, ::-1]
    if balls_a is not None and len(balls_a):
        balls = np.asarray(balls_a, dtype=float).reshape(-1, 4) / voxel_size_a
    else:
        balls = balls_from_points(mask_xyz, n_auto_balls or auto_ball_count(len(mask_xyz)), seed=seed)
    return Shape(name=name, label=label,
                 coeffs=ndimage.spline_filter(template, order=3, output=np.float64, mode="constant"),
                 solid=mask.astype(np.float32),
                 centre_zyx=centre, support_xyz=(support - centre)[:, ::-1].astype(float), threshold=threshold,
                 balls=balls, mask_volume_vox=int(mask.sum()), zmin_vox=float(mask_xyz[:, 2].min()),
                 mask_radius_vox=float(np.linalg.norm(mask_xyz, axis=1).max()))


def solid_mask(mask: np.ndarray, centre_zyx: np.ndarray) -> np.ndarray:
    """The thresholded template made solid (see the module docstring).

    Closed with a 1-voxel cross, cavities filled in 3D and in every axis-aligned slice (open-ended
    barrels are rings in their slices), and joined to the centre voxel by a straight path when the
    centre still lies outside.
    """
    padded = np.pad(mask, 2)
    solid = ndimage.binary_closing(padded, ndimage.generate_binary_structure(3, 1))[2:-2, 2:-2, 2:-2] | mask
    solid = ndimage.binary_fill_holes(solid)
    for axis in range(3):
        slices = np.moveaxis(solid, axis, 0)
        solid = solid | np.moveaxis(np.stack([ndimage.binary_fill_holes(s) for s in slices]), 0, axis)
    centre = tuple(int(c) for c in centre_zyx)
    if solid.any() and not solid[centre]:
        voxels = np.argwhere(solid)
        nearest = voxels[np.argmin(((voxels - centre) ** 2).sum(1))]
        steps = int(np.ceil(2 * np.abs(nearest - centre).max())) + 1
        path = np.rint(np.linspace(centre, nearest, steps)).astype(int)
        solid[tuple(path.T)] = True
    return solid


def auto_ball_count(n_voxels: int) -> int:
    """Balls of an automatic multi-ball model: one per ~80 mask voxels, 4 to 32."""
    return int(np.clip(round(n_voxels / 80), 4, 32))


def balls_from_points(points_xyz: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Multi-ball model of a voxel set: k-means centres, radii reaching every member voxel centre."""
    points_xyz = np.asarray(points_xyz, dtype=float)
    k = max(1, min(k, len(points_xyz)))
    if k == 1:
        centres, labels = np.zeros((1, 3)), np.zeros(len(points_xyz), dtype=int)
    else:
        centres, labels = kmeans2(points_xyz, k, minit="++", seed=seed)
    balls = []
    for j in range(k):
        members = points_xyz[labels == j]
        if len(members) == 0:
            continue
        c = members.mean(0) if k > 1 else centres[0]
        balls.append([*c, np.linalg.norm(members - c, axis=1).max() + 1e-3])
    return np.array(balls)


def render(shape: Shape, matrix_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate a class template by ``matrix_xyz``.

    Returns ``(density, mask, offset_zyx)``: a float32 crop, its boolean mask, and
    the crop's first voxel relative to the particle centre (so voxel ``o`` of the
    crop lies at ``centre_zyx + offset_zyx + o`` in the tomogram).
    """
    matrix_xyz = np.asarray(matrix_xyz, dtype=float)
    forward = (shape.support_xyz @ matrix_xyz.T)[:, ::-1]        # zyx, relative to the centre
    lo = np.floor(forward.min(0)).astype(int) - 2
    hi = np.ceil(forward.max(0)).astype(int) + 2
    reach = np.zeros(tuple(hi - lo + 1), dtype=np.uint8)
    reach[tuple(np.rint(forward - lo).astype(int).T)] = 1
    for axis in range(3):                                          # 3x3x3 dilation, separably
        reach = ndimage.maximum_filter1d(reach, 3, axis=axis)
    points = np.nonzero(reach)
    inverse = zyx_matrix(matrix_xyz.T)
    coords = inverse @ (np.stack(points).astype(float) + lo[:, None]) + shape.centre_zyx[:, None]
    density = np.zeros(reach.shape, dtype=np.float32)
    density[points] = ndimage.map_coordinates(shape.coeffs, coords, order=3, mode="constant", cval=0.0,
                                              prefilter=False, output=np.float32)
    solid = np.zeros(reach.shape, dtype=bool)
    solid[points] = ndimage.map_coordinates(shape.solid, coords, order=1, mode="constant", cval=0.0,
                                            output=np.float32) >= 0.5
    mask = (density >= shape.threshold) | solid
    return density, mask, lo.astype(int)


def protein_reference(shapes: list[Shape]) -> float:
    """Mean template value inside the masks, averaged over classes (the unit of relative densities)."""
    values = []
    for shape in shapes:
        density, _, _ = render(shape, np.eye(3))
        mask = density >= shape.threshold
        if mask.any():
            values.append(float(density[mask].mean()))
    return float(np.mean(values)) if values else 1.0


def rotated_balls(balls: np.ndarray, matrix_xyz: np.ndarray, centre_xyz) -> np.ndarray:
    """Ball model ``(k, 4)`` turned by ``R`` and moved to ``centre_xyz``."""
    out = balls.copy()
    out[:, :3] = balls[:, :3] @ np.asarray(matrix_xyz).T + np.asarray(centre_xyz, dtype=float)
    return out
