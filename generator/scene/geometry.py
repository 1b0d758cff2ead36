"""Small geometric helpers shared by membranes, filaments and fiducials (voxels, ``(x, y, z)``)."""

from __future__ import annotations

import numpy as np


def frame_from_z(direction) -> np.ndarray:
    """A rotation matrix whose third column is the unit ``direction`` (it takes ``e_z`` to it)."""
    n = np.asarray(direction, dtype=float)
    n = n / np.linalg.norm(n)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(helper, n)
    u /= np.linalg.norm(u)
    v = np.cross(n, u)
    return np.column_stack([u, v, n])


def rot_z(angle_rad: float) -> np.ndarray:
    """Rotation matrix ``(3, 3)`` about z by ``angle_rad`` (counter-clockwise, radians)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def random_unit(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random unit vector, shape ``(3,)``."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def crop_grid(origin_zyx: np.ndarray, shape_zyx: tuple[int, int, int]) -> np.ndarray:
    """Voxel centre coordinates ``(x, y, z)`` of a crop, shape ``(*shape_zyx, 3)``."""
    z, y, x = np.meshgrid(*(np.arange(o, o + n, dtype=np.float32) for o, n in zip(origin_zyx, shape_zyx)),
                          indexing="ij")
    return np.stack([x, y, z], axis=-1)


def render_spheres(centres_xyz: np.ndarray, radii: np.ndarray | float, margin: float = 2.0, edge: float = 0.5
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Union of smooth solid spheres on a crop: ``(profile in [0, 1], origin_zyx)``.

    The profile is ``0.5 * (1 - tanh((|r - c| - radius) / edge))`` and the union
    takes the maximum, so a voxel centre inside any sphere has a value >= 0.5.
    """
    centres_xyz = np.asarray(centres_xyz, dtype=float).reshape(-1, 3)
    radii = np.broadcast_to(np.asarray(radii, dtype=float), (len(centres_xyz),))
    lo = np.floor((centres_xyz - radii[:, None]).min(0) - margin).astype(int)[::-1]
    hi = np.ceil((centres_xyz + radii[:, None]).max(0) + margin).astype(int)[::-1]
    out = np.zeros(tuple(hi - lo + 1), dtype=np.float32)
    for c, r in zip(centres_xyz, radii):
        a = np.floor(c[::-1] - r - margin).astype(int)
        b = np.ceil(c[::-1] + r + margin).astype(int) + 1
        grid = crop_grid(a, tuple(b - a))
        dist = np.linalg.norm(grid - c.astype(np.float32), axis=-1)
        prof = 0.5 * (1 - np.tanh((dist - r) / edge))
        sl = tuple(slice(int(p - q), int(p - q + n)) for p, q, n in zip(a, lo, b - a))
        np.maximum(out[sl], prof, out=out[sl])
    return out, lo
