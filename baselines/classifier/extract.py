"""Cutting subtomograms out of a tomogram, and choosing background points.

A subtomogram of edge ``box`` centred on voxel ``c`` (x, y, z; rounded) spans
``c - box // 2 .. c - box // 2 + box - 1`` on each axis, so the particle centre
lands on the box's centre voxel ``box // 2`` (the template convention). Parts
outside the tomogram are filled with ``fill`` (0 = the mean of a normalised tomogram).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from tomobench.volumes import crop


def extract_subtomograms(volume: np.ndarray, centres_xyz: np.ndarray, box: int, *,
                         fill: float = 0.0) -> np.ndarray:
    """``(N, box, box, box)`` float32 subtomograms at ``centres_xyz`` ((N, 3) voxels, x y z)."""
    centres = np.rint(np.asarray(centres_xyz, dtype=float).reshape(-1, 3)[:, ::-1]).astype(int)  # z y x
    out = np.empty((len(centres), box, box, box), dtype=np.float32)
    for i, c in enumerate(centres):
        out[i] = crop(volume, c - box // 2, box, fill=fill, dtype=np.float32)
    return out


def background_points(shape_zyx: tuple[int, ...], particle_xyz: np.ndarray, n: int, min_distance: float,
                      rng: np.random.Generator, *, class_mask: np.ndarray | None = None,
                      max_tries: int = 50) -> np.ndarray:
    """Random background centres away from every particle.

    Up to ``n`` random voxel centres (x, y, z) at least ``min_distance`` voxels from every particle
    centre and, when a ``class_mask``/target map is given, on a background voxel (0).
    """
    tree = cKDTree(np.asarray(particle_xyz, float).reshape(-1, 3)) if len(particle_xyz) else None
    found: list[np.ndarray] = []
    for _ in range(max_tries):
        need = n - len(found)
        if need <= 0:
            break
        cand = rng.integers(0, np.array(shape_zyx)[::-1], size=(4 * need, 3))  # x y z
        ok = np.ones(len(cand), bool)
        if tree is not None:
            ok &= tree.query(cand)[0] >= min_distance
        if class_mask is not None:
            ok &= class_mask[cand[:, 2], cand[:, 1], cand[:, 0]] == 0
        found.extend(cand[ok][:need])
    return np.array(found, dtype=float).reshape(-1, 3)


def random_flips(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random flips of a batch of subtomograms (augmentation).

    Flip each subtomogram of ``(N, s, s, s)`` along z, y and x at random (the missing wedge about y
    is symmetric under each flip).
    """
    out = batch.copy()
    flips = rng.random((len(batch), 3)) < 0.5
    for i, f in enumerate(flips):
        axes = tuple(a for a in range(3) if f[a])
        if axes:
            out[i] = np.flip(batch[i], axes)
    return out
