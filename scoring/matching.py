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
    """What each of N picks hits.

    Attributes
    ----------
    hit_id : numpy.ndarray
        (N,) int64: the 1-based particle id hit, 0 = background.
    outside : numpy.ndarray
        (N,) bool: the pick lay outside the volume and was clamped to its border (RO).
    voxel : numpy.ndarray
        (N, 3) int64: the rounded, clamped x, y, z voxel the mask is read at; AD is measured from it,
        as in the official scripts.
    """

    hit_id: np.ndarray
    outside: np.ndarray
    voxel: np.ndarray


def round_half_even(xyz: np.ndarray) -> np.ndarray:
    """Round coordinates as the official script does (Python/numpy rounding: halves to even).

    Parameters
    ----------
    xyz : numpy.ndarray
        Coordinates of any shape, in voxels.

    Returns
    -------
    numpy.ndarray
        int64, the same shape: the nearest integer voxel, halves to the even neighbour.
    """
    return np.rint(np.asarray(xyz, dtype=float)).astype(np.int64)


def match_picks(xyz: np.ndarray, occupancy: np.ndarray, *, dilate: bool = True) -> Matches:
    """Hit ids of picks ``xyz`` in ``occupancy``.

    Picks outside the volume are clamped to its border (and flagged ``outside``).

    Parameters
    ----------
    xyz : numpy.ndarray
        (N, 3) pick positions x, y, z in voxels (0-based); any array that reshapes to (N, 3).
    occupancy : numpy.ndarray
        (Z, Y, X) integer-valued particle ids, 0 = background.
    dilate : bool
        Dilate the mask once with a 1-voxel 6-connected cross (grey-level max), as SHREC does.

    Returns
    -------
    Matches
        Per pick, the id hit, whether it was clamped and the voxel read.
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
