"""SHREC matching: which particle, if any, each pick hits.

The official SHREC 2020/2021 evaluation dilates the occupancy mask once with a
6-connected cross (grey-level max, so at a shared border the higher id wins)
and reads the id at the rounded, clamped pick position. Dilating only where
picks land gives the same answer: the dilated value at a voxel is the max over
the voxel and its in-bounds 6 neighbours (scipy's default ``reflect`` border
adds nothing new), so we never build the dilated volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_CROSS = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


@dataclass(frozen=True)
class Matches:
    """Per pick: ``hit_id`` (1-based particle id, 0 = background), ``outside`` (was clamped: RO) and
    ``voxel`` (N, 3: the rounded, clamped x, y, z voxel the mask is read at; AD is measured from it,
    as in the official scripts).
    """

    hit_id: np.ndarray
    outside: np.ndarray
    voxel: np.ndarray


def round_half_even(xyz: np.ndarray) -> np.ndarray:
    """Round coordinates as the official script does (Python/numpy rounding: halves to even)."""
    return np.rint(np.asarray(xyz, dtype=float)).astype(np.int64)


def match_picks(xyz: np.ndarray, occupancy: np.ndarray, *, dilate: bool = True) -> Matches:
    """Hit ids of picks ``xyz`` (N, 3: x, y, z voxels) in ``occupancy`` (``[z, y, x]`` ids).

    Picks outside the volume are clamped to its border (and flagged ``outside``);
    with ``dilate`` the mask is dilated once with a 1-voxel cross (grey-level max).
    """
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    upper = np.array(occupancy.shape[::-1]) - 1
    rounded = round_half_even(xyz)
    clamped = np.clip(rounded, 0, upper)
    outside = (clamped != rounded).any(axis=1)
    offsets = _CROSS if dilate else _CROSS[:1]
    best = np.zeros(len(xyz), dtype=np.int64)
    for offset in offsets:
        neighbour = clamped + offset
        inside = ((neighbour >= 0) & (neighbour <= upper)).all(axis=1)
        nb = neighbour[inside]
        values = np.asarray(occupancy[nb[:, 2], nb[:, 1], nb[:, 0]]).astype(np.int64)
        best[inside] = np.maximum(best[inside], values)
    return Matches(best, outside, clamped)
