"""Training targets of the U-Net: the class mask, or a ball at each particle centre.

``mask`` (the older default) labels every voxel of a particle's density mask with its class, so
a 40 kDa particle has ~90 labelled voxels and a 2 MDa one ~3,700, and the voxel deciding a
large particle's class may lie far from its centre. ``sphere`` labels a ball of the same
order of size for every class at its centre (the CZII winners' sphere / heatmap targets at a
fraction of the radius): radius ``max(min_radius_vox, fraction * r_eff)`` with ``r_eff`` the
radius of a ball of the class's median training voxel count. The network then answers one
question per class ("is this voxel the centre of a class-c particle?") from a context that
covers the whole particle, and one peak per particle is what the picking wants. The centre
voxel lies inside the particle's occupancy mask (the scorer's hit region) for every class of
the default data, including the hollow rings, so a peak at the ball's centre is a hit.
"""

from __future__ import annotations

import numpy as np


def effective_radii_vox(voxel_counts: dict[str, list[int]], names: list[str], default_vox: float = 3.0) -> np.ndarray:
    """Radius (voxels) of a ball of each class's median training voxel count; index 0 (background) 0.

    Parameters
    ----------
    voxel_counts : dict of str to list of int
        Class name -> voxel counts of its training particles (``training_data.particle_voxel_counts``).
    names : list of str
        Target names, index 0 the background.
    default_vox : float
        Radius of a class with no counted particle.
    """
    out = np.zeros(len(names))
    for i, name in enumerate(names[1:], start=1):
        counts = voxel_counts.get(name)
        out[i] = (3 * float(np.median(counts)) / (4 * np.pi)) ** (1 / 3) if counts else default_vox
    return out


def sphere_targets(shape: tuple[int, int, int], xyz_vox: np.ndarray, target: np.ndarray, radius_vox: np.ndarray,
                   ) -> np.ndarray:
    """A target map (uint8, ``shape`` = (z, y, x)) with a ball of class ``target[i]`` at each ``xyz_vox[i]``.

    Parameters
    ----------
    shape : tuple of int
        (z, y, x) of the tomogram.
    xyz_vox : np.ndarray
        (N, 3) particle centres, x, y, z in voxels.
    target : np.ndarray
        (N,) target index of each particle (1..K).
    radius_vox : np.ndarray
        Ball radius in voxels per target index (indexed by ``target``).

    Returns
    -------
    np.ndarray
        0 background, else the class of the ball a voxel lies in (within ``radius_vox`` of the centre,
        inclusive); where balls overlap the particle listed later wins, except that every centre voxel
        keeps its own particle's class.
    """
    out = np.zeros(shape, np.uint8)
    xyz = np.asarray(xyz_vox, float).reshape(-1, 3)
    target = np.asarray(target, int)
    for (x, y, z), c in zip(xyz, target):
        r = float(radius_vox[c])
        lo = np.maximum(np.floor(np.array([z, y, x]) - r).astype(int), 0)
        hi = np.minimum(np.ceil(np.array([z, y, x]) + r).astype(int) + 1, shape)
        if np.any(hi <= lo):
            continue
        zz, yy, xx = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        ball = (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][ball] = c
    centre = np.clip(np.rint(xyz[:, ::-1]).astype(int), 0, np.array(shape) - 1)
    out[centre[:, 0], centre[:, 1], centre[:, 2]] = target.astype(np.uint8)
    return out
