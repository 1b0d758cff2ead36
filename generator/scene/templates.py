"""Particle shapes: a class template prepared once, then rotated per particle.

A particle is made exactly as :mod:`tomobench.euler` defines it: the template
(``[z, y, x]``, centre voxel ``n // 2``) is turned by ``R`` with cubic-spline
interpolation (:func:`tomobench.rotate.rotate_volume`'s convention, so sub-voxel
accurate) and placed with its centre voxel on the particle's integer centre.

The spline coefficients of each template are computed once per class and only
the crop that can hold the rotated density is interpolated (the rotated bounding
box of the template's support), which gives the same values as
``rotate_volume`` at a fraction of the cost.

**Mask threshold.** A particle's mask (its voxels in ``class_mask`` and
``occupancy_mask``) is ``rotated_density >= mask_threshold * max(template)``
with ``mask_threshold = 0.1`` by default (``SceneParams.mask_threshold``).

**Ball models** (Å in the library, voxels here) are the broad phase of the
packer. A class without one gets balls from k-means of its mask voxels, each
radius reaching the farthest voxel corner of its cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.cluster.vq import kmeans2

from tomobench.euler import zyx_matrix
from tomobench.volumes import box_centre

SUPPORT_FRACTION = 1e-3   # template voxels above this x max count as support (interpolated region)
_HALF_DIAG = np.sqrt(3) / 2


@dataclass
class Shape:
    """A class ready to be placed; lengths in voxels, vectors ``(x, y, z)`` relative to the centre."""

    name: str
    label: int
    coeffs: np.ndarray        # spline coefficients of the template, float64 [z, y, x]
    centre_zyx: np.ndarray    # template centre voxel (n // 2)
    corners_xyz: np.ndarray   # (8, 3) corners of the support box
    threshold: float          # absolute mask threshold
    balls: np.ndarray         # (k, 4) x, y, z, r of the multi-ball model (voxels, template frame)
    mask_volume_vox: int      # voxels of the unrotated mask
    zmin_vox: float           # lowest mask z (template frame), used to seat membrane-bound particles

    @property
    def radius_vox(self) -> float:
        """Radius of the ball centred on the centre that encloses every ball."""
        return float(np.max(np.linalg.norm(self.balls[:, :3], axis=1) + self.balls[:, 3]))

    @property
    def eff_radius_vox(self) -> float:
        """Radius of the sphere with the mask's volume."""
        return float((3 * self.mask_volume_vox / (4 * np.pi)) ** (1 / 3))

    def single_ball(self) -> np.ndarray:
        return np.array([[0.0, 0.0, 0.0, self.radius_vox]])


def prepare_shape(name: str, label: int, template: np.ndarray, balls_a: np.ndarray | None,
                  voxel_size_a: float, mask_threshold: float, *, n_auto_balls: int = 6,
                  seed: int = 0) -> Shape:
    """Precompute what placing particles of one class needs (see the module docstring)."""
    template = np.asarray(template, dtype=np.float32)
    if template.ndim != 3 or min(template.shape) < 1:
        raise ValueError(f"template of {name!r} must be a 3D array, got shape {template.shape}")
    peak = float(template.max())
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"template of {name!r} has no positive density")
    centre = box_centre(template.shape)
    support = np.argwhere(template > SUPPORT_FRACTION * peak)
    lo, hi = support.min(0) - centre - 1, support.max(0) - centre + 1          # zyx
    corners_zyx = np.array([[a, b, c] for a in (lo[0], hi[0]) for b in (lo[1], hi[1]) for c in (lo[2], hi[2])])
    threshold = mask_threshold * peak
    mask = template >= threshold
    mask_xyz = (np.argwhere(mask) - centre)[:, ::-1]
    if balls_a is not None and len(balls_a):
        balls = np.asarray(balls_a, dtype=float).reshape(-1, 4) / voxel_size_a
    else:
        balls = balls_from_points(mask_xyz, n_auto_balls, seed=seed)
    return Shape(name=name, label=label,
                 coeffs=ndimage.spline_filter(template, order=3, output=np.float64, mode="constant"),
                 centre_zyx=centre, corners_xyz=corners_zyx[:, ::-1].astype(float), threshold=threshold,
                 balls=balls, mask_volume_vox=int(mask.sum()), zmin_vox=float(mask_xyz[:, 2].min()))


def balls_from_points(points_xyz: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Multi-ball model of a voxel set: k-means centres, radii reaching every voxel's far corner."""
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
        balls.append([*c, np.linalg.norm(members - c, axis=1).max() + _HALF_DIAG])
    return np.array(balls)


def render(shape: Shape, matrix_xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate a class template by ``matrix_xyz``.

    Returns ``(density, mask, offset_zyx)``: a float32 crop, its boolean mask, and
    the crop's first voxel relative to the particle centre (so voxel ``o`` of the
    crop lies at ``centre_zyx + offset_zyx + o`` in the tomogram).
    """
    rotated = shape.corners_xyz @ np.asarray(matrix_xyz).T
    lo = np.floor(rotated.min(0))[::-1] - 1     # zyx
    hi = np.ceil(rotated.max(0))[::-1] + 1
    out_shape = tuple(int(v) for v in hi - lo + 1)
    inverse = zyx_matrix(np.asarray(matrix_xyz).T)
    offset = shape.centre_zyx + inverse @ lo
    density = ndimage.affine_transform(shape.coeffs, inverse, offset=offset, output_shape=out_shape,
                                       order=3, mode="constant", cval=0.0, prefilter=False,
                                       output=np.float32)
    mask = density >= shape.threshold
    return density, mask, lo.astype(int)


def protein_reference(shapes: list[Shape]) -> float:
    """Mean template value inside the masks, averaged over classes (the unit of relative densities)."""
    values = []
    for shape in shapes:
        density, mask, _ = render(shape, np.eye(3))
        if mask.any():
            values.append(float(density[mask].mean()))
    return float(np.mean(values)) if values else 1.0


def rotated_balls(balls: np.ndarray, matrix_xyz: np.ndarray, centre_xyz) -> np.ndarray:
    """Ball model ``(k, 4)`` turned by ``R`` and moved to ``centre_xyz``."""
    out = balls.copy()
    out[:, :3] = balls[:, :3] @ np.asarray(matrix_xyz).T + np.asarray(centre_xyz, dtype=float)
    return out
