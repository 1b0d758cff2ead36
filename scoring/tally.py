"""Counting one tomogram: the SHREC localization counts and the classification pairs.

A :class:`Tally` holds counts only, so tallies of several tomograms add up
(SHREC ratios are taken after summing, see :mod:`scoring.report`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from scoring.matching import match_picks
from tomobench.classes import BACKGROUND


@dataclass
class Tally:
    """Counts of one tomogram or, summed with ``+``, of several (SHREC 2020 Table 3 names).

    Attributes
    ----------
    RR : int
        Picks submitted (results reported).
    TP, FP, FN : int
        Particles hit, picks on background, scored particles not hit.
    MH : int
        Particles hit more than once.
    RO : int
        Picks outside the volume (clamped to its border).
    n_particles : int
        Scored particles of the truth.
    ignored_picks : int
        Picks on a non-scored object (SHREC 2021: they vanish but stay in RR).
    distances : list of float
        Per hit particle, the distance in voxels from the voxel read to its centre (AD).
    confusion : collections.Counter
        (true class, predicted class) -> count, one count per scored particle.
    fbeta : dict of str to numpy.ndarray
        Class -> (3,) int [tp, fp, fn] of the CZII distance matching.
    """

    RR: int = 0
    TP: int = 0
    FP: int = 0
    FN: int = 0
    MH: int = 0
    RO: int = 0
    n_particles: int = 0
    ignored_picks: int = 0                 # hits on non-scored objects (SHREC 2021: vanish, stay in RR)
    distances: list[float] = field(default_factory=list)
    confusion: Counter = field(default_factory=Counter)      # (true class, predicted class) -> count
    fbeta: dict[str, np.ndarray] = field(default_factory=dict)  # class -> [tp, fp, fn]

    def __add__(self, other: "Tally") -> "Tally":
        out = Tally()
        for name in ("RR", "TP", "FP", "FN", "MH", "RO", "n_particles", "ignored_picks"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.distances = self.distances + other.distances
        out.confusion = self.confusion + other.confusion
        for cls in set(self.fbeta) | set(other.fbeta):
            out.fbeta[cls] = self.fbeta.get(cls, np.zeros(3, int)) + other.fbeta.get(cls, np.zeros(3, int))
        return out


def tally_tomogram(picks: pd.DataFrame, truth_particles: pd.DataFrame, occupancy: np.ndarray,
                   scored: set[str], match_radius_vox: dict[str, float], *, dilate: bool = True) -> Tally:
    """SHREC and CZII counts of one tomogram.

    Parameters
    ----------
    picks : pandas.DataFrame
        Particle list (:data:`tomobench.particles.PICK_COLUMNS`, N rows) in submission order,
        ``x y z`` in voxels (0-based).
    truth_particles : pandas.DataFrame
        The ground-truth list (M rows; particle id = row + 1), ``x y z`` in voxels.
    occupancy : numpy.ndarray
        (Z, Y, X) integer-valued particle ids of the truth, 0 = background.
    scored : set of str
        The class names that count.
    match_radius_vox : dict of str to float
        The F-beta match distance per scored class in voxels (``radius_multiplier`` x the class
        radius, already multiplied: CZII's ``particle_radius * distance_multiplier``).
    dilate : bool
        Dilate the occupancy mask once with a 1-voxel cross before reading it (SHREC).

    Returns
    -------
    Tally
        The counts of this tomogram.
    """
    tally = Tally(RR=len(picks))
    truth_class = truth_particles["class"].to_numpy()
    truth_xyz = truth_particles[["x", "y", "z"]].to_numpy(float)
    is_scored = np.isin(truth_class, list(scored))
    tally.n_particles = int(is_scored.sum())

    xyz = picks[["x", "y", "z"]].to_numpy(float)
    matches = match_picks(xyz, occupancy, dilate=dilate)
    tally.RO = int(matches.outside.sum())
    hit = matches.hit_id
    on_ignored = (hit > 0) & ~is_scored[np.maximum(hit, 1) - 1]
    tally.ignored_picks = int(on_ignored.sum())
    tally.FP = int((hit == 0).sum())

    valid = np.flatnonzero((hit > 0) & ~on_ignored)
    pick_class = picks["class"].to_numpy()
    first_hit, hits = _first_hits(hit[valid], valid)
    tally.TP = len(first_hit)
    tally.MH = int((hits > 1).sum())
    tally.FN = tally.n_particles - tally.TP
    # AD from the rounded, clamped voxel (the one the mask is read at), as the official scripts do
    tally.distances = _distances(matches.voxel[first_hit[:, 1]], truth_xyz[first_hit[:, 0] - 1]).tolist()

    first_of = np.full(len(truth_class) + 1, -1, dtype=np.int64)      # particle id -> its first valid pick
    first_of[first_hit[:, 0]] = first_hit[:, 1]
    scored_ids = np.flatnonzero(is_scored) + 1
    firsts = first_of[scored_ids]
    predicted = np.where(firsts >= 0, pick_class[np.maximum(firsts, 0)] if len(pick_class) else BACKGROUND,
                         BACKGROUND)
    tally.confusion.update(zip(truth_class[scored_ids - 1].tolist(), predicted.tolist()))

    for cls in scored:
        reference = truth_xyz[truth_class == cls]
        candidates = xyz[pick_class == cls]
        tally.fbeta[cls] = _distance_counts(reference, candidates, match_radius_vox.get(cls, np.nan))
    return tally


def _first_hits(hit_ids: np.ndarray, pick_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The particles hit, in the order of their first hit, with that pick and the number of hits.

    Parameters
    ----------
    hit_ids : numpy.ndarray
        (K,) int, the 1-based particle id each valid pick hits, in submission order.
    pick_index : numpy.ndarray
        (K,) int, the row of each of those picks in the submission.

    Returns
    -------
    first_hit : numpy.ndarray
        (P, 2) int64: particle id and the row of its first pick, ordered by that row.
    hits : numpy.ndarray
        (P,) int64: how many picks hit each of those particles.
    """
    ids, first, hits = np.unique(hit_ids, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return np.stack([ids[order], pick_index[first[order]]], axis=1).astype(np.int64).reshape(-1, 2), hits[order]


def _distances(voxels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(K,) Euclidean distances (voxels) between rows of two (K, 3) arrays.

    ``vecdot`` over contiguous float64 rows runs the same dot product as ``numpy.linalg.norm`` of
    one row, so every distance is bit-identical to the per-row norm the scorer used before.
    """
    diff = np.ascontiguousarray(np.asarray(voxels, dtype=float) - np.asarray(centres, dtype=float)).reshape(-1, 3)
    return np.sqrt(np.vecdot(diff, diff))


def _distance_counts(reference: np.ndarray, candidates: np.ndarray, radius: float) -> np.ndarray:
    """CZII counts [tp, fp, fn] of one class.

    tp = reference particles with a candidate within ``radius`` (inclusive, voxels); fp = candidates
    - tp; fn = references - tp. No reference: every candidate is a false positive.
    """
    if len(reference) == 0 or len(candidates) == 0 or not np.isfinite(radius):
        tp = 0
    else:
        near = cKDTree(candidates).query_ball_tree(cKDTree(reference), r=radius)
        tp = len({ref for found in near for ref in found})
    return np.array([tp, len(candidates) - tp, len(reference) - tp], dtype=int)
