"""Candidate positions for DoG+CNN: the DoG picker's filter and peaks (:mod:`baselines.dog`).

Response = G(sigma) * v - G(ratio * sigma) * v on the normalised tomogram, sign
chosen so particles give positive peaks (``polarity``: +1 bright particles,
-1 dark). Peaks are local maxima over a cube of ``2 * ceil(min_distance) + 1``,
above the ``quantile`` of the response, the strongest ``max_candidates`` kept.
:func:`multiscale_candidates` runs one such DoG per size group (:func:`group_sigmas_vox`) and merges
them. :func:`dog_grid_picks` gives the DoG baseline's own picks (its filter, peak distance and threshold,
with the ``(sigma, t)`` of its grid search, :func:`tune_dog_grid`), so a CNN that only assigns classes to
them, or rejects some, keeps the DoG baseline's localization. A candidates file (``--candidates``, any
particle-list format) replaces them.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from baselines.dog import dog_filter, local_peaks, select_peaks
from baselines.unet.peaks import Truth, hit_ids


def dog_candidates(volume: np.ndarray, sigma_vox: float, *, ratio: float = 1.6, polarity: float = 1.0,
                   min_distance_vox: float = 5.0, quantile: float = 0.9,
                   max_candidates: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the DoG response: ``(xyz (N, 3) voxels, response (N,))``, strongest first."""
    return response_candidates(polarity * dog_filter(volume, sigma_vox, ratio), min_distance_vox=min_distance_vox,
                               quantile=quantile, max_candidates=max_candidates)


def response_candidates(response: np.ndarray, *, min_distance_vox: float, quantile: float,
                        max_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of a filter ``response`` above its ``quantile``: ``(xyz (N, 3), value (N,))``."""
    zyx, score = local_peaks(response, min_distance_vox)
    keep = score > np.quantile(response, quantile)
    zyx, score = zyx[keep][:max_candidates], score[keep][:max_candidates]
    return zyx[:, ::-1].astype(float), score.astype(float)


def contrast_polarity(volume: np.ndarray, target: np.ndarray) -> float:
    """+1 if particle voxels (target > 0) are brighter than background on average, else -1."""
    fg = target > 0
    if not fg.any() or fg.all():
        return 1.0
    return 1.0 if float(volume[fg].mean()) >= float(volume[~fg].mean()) else -1.0


def group_sigmas_vox(radii_vox: dict[str, float], groups: dict[str, str], *, merge_ratio: float = 1.2) -> list[float]:
    """DoG scales (voxels), one per size group of the scored classes.

    One DoG scale per size group: ``median effective radius / sqrt(3)`` of the group's classes
    (a DoG of ``sigma`` peaks on balls of radius ``sqrt(3) sigma``), sorted, at least 1 voxel; a scale
    within ``merge_ratio`` of the previous kept one is dropped (two groups of nearly one size).
    """
    by_group: dict[str, list[float]] = {}
    for name, r in radii_vox.items():
        by_group.setdefault(groups.get(name, ""), []).append(r)
    kept: list[float] = []
    for sigma in sorted(max(1.0, float(np.median(v)) / np.sqrt(3)) for v in by_group.values()):
        if not kept or sigma > kept[-1] * merge_ratio:
            kept.append(sigma)
    return kept


def multiscale_candidates(volume: np.ndarray, sigmas_vox: list[float], *, ratio: float = 1.6,
                          polarity: float = 1.0, quantile: float = 0.9,
                          max_candidates: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Multi-scale DoG candidates, merged across scales.

    Union of :func:`dog_candidates` at each scale (peaks at least ``sqrt(3) sigma`` apart within a
    scale), scores in units of that scale's response standard deviation so the scales compare; of two
    candidates of different scales closer than the smaller scale's ``sqrt(3) sigma`` the weaker goes.
    Returns ``(xyz (N, 3), score (N,))``, strongest first, at most ``max_candidates``.
    """
    xyzs, scores, dists = [], [], []
    for sigma in sigmas_vox:
        response = polarity * dog_filter(volume, sigma, ratio)
        spread = float(response.std()) or 1.0
        xyz, score = response_candidates(response, min_distance_vox=np.sqrt(3) * sigma, quantile=quantile,
                                         max_candidates=max_candidates)
        xyzs.append(xyz)
        scores.append(score / spread)
        dists.append(np.full(len(xyz), np.sqrt(3) * sigma))
    xyz, score, dist = np.concatenate(xyzs), np.concatenate(scores), np.concatenate(dists)
    order = np.argsort(-score, kind="stable")
    xyz, score, dist = xyz[order], score[order], dist[order]
    keep = np.ones(len(xyz), bool)
    if len(xyz) > 1:
        tree = cKDTree(xyz)
        for i in range(len(xyz)):
            if not keep[i]:
                continue
            near = np.array(tree.query_ball_point(xyz[i], dist[i]), dtype=int)
            near = near[near > i]
            close = np.linalg.norm(xyz[near] - xyz[i], axis=1) < np.minimum(dist[near], dist[i])
            keep[near[close]] = False
    return xyz[keep][:max_candidates], score[keep][:max_candidates]


def dog_grid_picks(volume: np.ndarray, sigma_vox: float, t: float, *, ratio: float, polarity: float,
                   min_distance_vox: float) -> tuple[np.ndarray, np.ndarray]:
    """The DoG baseline's picks (:mod:`baselines.dog`): ``(xyz (N, 3) voxels, response (N,))``, strongest first.

    Peaks of ``polarity * DoG(sigma_vox, ratio)`` at least ``min_distance_vox`` apart, above the
    paper's threshold ``m + t (M - m) / 20`` over the peak values.
    """
    zyx, values = local_peaks(polarity * dog_filter(volume, sigma_vox, ratio), min_distance_vox)
    keep = select_peaks(values, t=t)
    return zyx[keep][:, ::-1].astype(float), values[keep].astype(float)


def tune_dog_grid(volumes: list[np.ndarray], truths: list[Truth], sigmas_vox: list[float], t_values: list[float], *,
                  ratio: float, polarity: float, min_distance_vox) -> tuple[float, float, float]:
    """The ``(sigma, t)`` of the grid with the best localization F1 over tomograms with known truth.

    The DoG baseline's grid search, counted as :func:`baselines.unet.peaks.evaluate` counts (SHREC's
    hit rule: a particle is found once it is hit) on all ``volumes`` together;
    ``min_distance_vox(sigma)`` gives the peak distance of a scale.
    Ties go to the larger ``t`` (fewer picks). Returns ``(sigma, t, F1)``.
    """
    best = (-1.0, 0.0, 0.0)
    for sigma in sigmas_vox:
        peaks = [local_peaks(polarity * dog_filter(v, sigma, ratio), min_distance_vox(sigma)) for v in volumes]
        for t in sorted(t_values, reverse=True):
            tp = n_picks = n_truth = 0
            for (zyx, values), truth in zip(peaks, truths):
                keep = select_peaks(values, t=t)
                pid = hit_ids(zyx[keep][:, ::-1], truth.occupancy)
                scored = np.r_[truth.particle_target, 0][np.minimum(pid, len(truth.particle_target))] > 0
                tp += len(np.unique(pid[scored & (pid > 0)]))
                n_picks += len(keep)
                n_truth += int(truth.n_per_class.sum())
            f1 = 2 * tp / (n_picks + n_truth) if n_picks + n_truth else 0.0
            if f1 > best[0] + 1e-12:
                best = (f1, sigma, t)
    return best[1], best[2], best[0]
