"""From per-class probability maps to particles: per-class peak finding and per-class thresholds.

The best SHREC 2020 / CZII entries do not threshold a hard argmax; they pick
each class's probability map on its own. For class ``c`` (1..K; 0 is
background) a voxel is a peak when its (optionally Gaussian-smoothed)
probability equals the maximum over a cube of edge ``2 * round(nms_fraction *
r_c) + 1`` (max-pool non-maximum suppression at about half the class radius
``r_c``, voxels) and is at least ``min_prob``. With ``exclusive`` a peak of
class ``c`` must also be the most probable particle class at its voxel
(background excluded), so one particle does not give picks of two classes.
Peaks of one class closer than the NMS half-width are then thinned greedily
(plateaus of saturated probabilities give ties).

Per-class score thresholds are tuned on a held-out training tomogram, where the
truth (``occupancy_mask.mrc``) is known, for the scored metric:
``class`` maximises each class's F1 (a pick of class ``c`` is a true positive
when it lands in a particle of class ``c`` not hit before, SHREC's per-class
counting), ``localization`` maximises the localization F1 of all picks
together (a pick is a true positive when it lands in any particle not hit
before) by coordinate ascent over the classes. Hits are read as the SHREC
scorer reads them: the particle id at the rounded position, the mask dilated
once by a 6-connected cross.

The max pooling and the smoothing run in torch on the maps' device (GPU-side
peak picking); only the peaks go to the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

_CROSS = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])


@dataclass(frozen=True)
class Peaks:
    """Peaks of the probability maps: target index, position (x, y, z; voxels) and score, by score."""

    target: np.ndarray   # (N,) int, 1..K
    xyz: np.ndarray      # (N, 3) float
    score: np.ndarray    # (N,) float, the class probability at the peak

    def select(self, keep: np.ndarray) -> "Peaks":
        """The peaks where ``keep`` (a boolean mask or index array) selects."""
        return Peaks(self.target[keep], self.xyz[keep], self.score[keep])


def nms_half_width(radius_vox: float, nms_fraction: float) -> int:
    """Half-edge of the max-pool cube for a class of radius ``radius_vox`` (at least 1 voxel)."""
    return max(1, int(round(nms_fraction * float(radius_vox))))


def _gaussian_smooth(p: torch.Tensor, sigma_vox: float) -> torch.Tensor:
    """Separable Gaussian blur of ``p`` [z, y, x] (replicate borders)."""
    half = max(1, int(np.ceil(3 * sigma_vox)))
    k = torch.exp(-0.5 * (torch.arange(-half, half + 1, device=p.device, dtype=p.dtype) / sigma_vox) ** 2)
    k = k / k.sum()
    x = p[None, None]
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = len(k)
        pad = [0] * 6
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = half
        x = F.conv3d(F.pad(x, pad, mode="replicate"), k.view(shape))
    return x[0, 0]


def cube_max(p: torch.Tensor, half: int) -> torch.Tensor:
    """Maximum filter over a cube (separable max pools).

    Maximum of ``p`` [z, y, x] over the cube of half-width ``half`` around each voxel (borders: the
    part inside). Separable: three 1-D max pools, O(half) per voxel instead of O(half^3).
    """
    x = p[None, None]
    k = 2 * half + 1
    for kernel, pad in (((k, 1, 1), (half, 0, 0)), ((1, k, 1), (0, half, 0)), ((1, 1, k), (0, 0, half))):
        x = F.max_pool3d(x, kernel, stride=1, padding=pad)
    return x[0, 0]


def _thin(zyx: np.ndarray, score: np.ndarray, distance: float) -> np.ndarray:
    """Indices of a greedy NMS (strongest first) keeping peaks more than ``distance`` apart (Chebyshev).

    Max-pool peaks are already that far apart except on plateaus (ties), so only the peaks that have a
    neighbour that close enter the (Python) greedy loop.
    """
    pairs = cKDTree(zyx).query_pairs(distance, p=np.inf, output_type="ndarray")
    if not len(pairs):
        return np.arange(len(zyx))
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs:
        neighbours.setdefault(int(i), []).append(int(j))
        neighbours.setdefault(int(j), []).append(int(i))
    dropped = np.zeros(len(zyx), bool)
    for i in sorted(neighbours, key=lambda k: (-score[k], k)):
        if not dropped[i]:
            dropped[neighbours[i]] = True
    return np.flatnonzero(~dropped)


@torch.no_grad()
def find_peaks(probs: torch.Tensor | np.ndarray, radii_vox, *, nms_fraction: float = 0.5, min_prob: float = 0.05,
               smooth_sigma_vox: float = 1.0, exclusive: bool = True, max_per_class: int = 20000) -> Peaks:
    """Per-class peaks of ``probs`` [C, z, y, x] (index 0 background); ``radii_vox[c]`` is class c's radius."""
    probs = torch.as_tensor(probs)
    n = probs.shape[0]
    if len(radii_vox) != n:
        raise ValueError(f"radii_vox has {len(radii_vox)} entries for {n} probability maps")
    if n < 2:
        return Peaks(np.zeros(0, int), np.zeros((0, 3)), np.zeros(0))
    fg_max = probs[1:].max(dim=0).values if exclusive else None
    targets, points, scores = [], [], []
    for c in range(1, n):
        half = nms_half_width(radii_vox[c], nms_fraction)
        p = probs[c].float()
        s = _gaussian_smooth(p, smooth_sigma_vox) if smooth_sigma_vox > 0 else p
        pooled = cube_max(s, half)
        mask = (s >= pooled) & (s >= min_prob)
        if fg_max is not None:   # exclusive
            mask &= probs[c] >= fg_max
        zyx = torch.nonzero(mask).cpu().numpy()
        score = s[mask].cpu().numpy().astype(float)
        if len(zyx) > 1:
            keep = _thin(zyx.astype(float), score, float(half))
            zyx, score = zyx[keep], score[keep]
        order = np.argsort(-score, kind="stable")[:max_per_class]
        targets.append(np.full(len(order), c))
        points.append(zyx[order][:, ::-1].astype(float))
        scores.append(score[order])
    target, xyz, score = np.concatenate(targets), np.concatenate(points), np.concatenate(scores)
    order = np.argsort(-score, kind="stable")
    return Peaks(target[order].astype(int), xyz[order], score[order])


def nms_by_class_radius(xyz: np.ndarray, cls: np.ndarray, min_distance_vox: float | np.ndarray) -> np.ndarray:
    """Greedy NMS of points already sorted strongest first: a boolean keep mask.

    A point closer than ``min_distance_vox`` (one value, or one per class index; between two classes
    the smaller distance) to a kept stronger point is dropped.
    """
    xyz = np.asarray(xyz, float).reshape(-1, 3)
    per_class = np.asarray(min_distance_vox, float)
    dist = per_class[cls] if per_class.ndim else np.full(len(cls), float(per_class))
    keep = np.ones(len(xyz), bool)
    if len(xyz) > 1:
        tree = cKDTree(xyz)
        for j in range(len(xyz)):
            if keep[j]:
                near = np.array(tree.query_ball_point(xyz[j], dist[j]), dtype=int)
                near = near[near > j]
                gap = np.linalg.norm(xyz[near] - xyz[j], axis=1)
                keep[near[gap < np.minimum(dist[near], dist[j])]] = False
    return keep


def hit_ids(xyz: np.ndarray, occupancy: np.ndarray) -> np.ndarray:
    """Particle id (0: none) each pick lands in: rounded, clamped, the mask dilated by a 6-cross (max)."""
    upper = np.array(occupancy.shape[::-1]) - 1
    clamped = np.clip(np.rint(np.asarray(xyz, float).reshape(-1, 3)).astype(np.int64), 0, upper)
    best = np.zeros(len(clamped), dtype=np.int64)
    for offset in _CROSS:
        nb = clamped + offset
        inside = ((nb >= 0) & (nb <= upper)).all(axis=1)
        q = nb[inside]
        best[inside] = np.maximum(best[inside], occupancy[q[:, 2], q[:, 1], q[:, 0]].astype(np.int64))
    return best


@dataclass(frozen=True)
class Truth:
    """Ground truth of one training tomogram, as threshold tuning needs it.

    What tuning needs of a training tomogram: ``occupancy`` [z, y, x] particle ids (0 none) and
    ``particle_target[id]`` the target index of particle ``id`` (0: unscored or none).
    """

    occupancy: np.ndarray
    particle_target: np.ndarray

    @classmethod
    def from_particles(cls, occupancy: np.ndarray, ids: np.ndarray, targets: np.ndarray) -> "Truth":
        """From the occupancy map and the scored particles' 1-based ``ids`` and target indices."""
        ids = np.asarray(ids, dtype=np.int64)
        table = np.zeros(max(int(occupancy.max(initial=0)), int(ids.max(initial=0))) + 1, dtype=np.int64)
        table[ids] = np.asarray(targets, dtype=np.int64)
        return cls(np.asarray(occupancy), table)

    @property
    def n_per_class(self) -> np.ndarray:
        """Scored particles per target index (index 0 unused, kept 0)."""
        counts = np.bincount(self.particle_target, minlength=int(self.particle_target.max(initial=0)) + 1)
        counts[0] = 0
        return counts


def evaluate(peaks: Peaks, thresholds: np.ndarray, truth: Truth, *, pid: np.ndarray | None = None) -> dict:
    """SHREC counts of the peaks at or above their class's threshold, submitted by decreasing score.

    Returns ``localization_f1`` (precision TP / picks, recall TP / scored particles; TP = particles
    hit at least once), ``class_f1`` (per target index, from the confusion of each particle's first
    hit; picks on background do not count against a class, as in SHREC's Table 4) and ``mean_class_f1``
    over the classes with particles.
    """
    pid = hit_ids(peaks.xyz, truth.occupancy) if pid is None else pid
    kept = peaks.score >= np.asarray(thresholds, float)[peaks.target]
    pid, pred = pid[kept], peaks.target[kept]
    n_classes = len(thresholds)
    ptarget = np.r_[truth.particle_target, 0]
    true_cls = ptarget[np.minimum(pid, len(ptarget) - 1)]
    valid = (pid > 0) & (true_cls > 0)
    hit, first = np.unique(pid[valid], return_index=True)
    n_truth = truth.n_per_class
    n_total = int(n_truth.sum())
    tp, rr = len(hit), int(kept.sum())
    precision, recall = tp / rr if rr else 0.0, tp / n_total if n_total else 0.0
    loc = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    t, p = true_cls[valid][first], pred[valid][first]
    f1 = np.zeros(n_classes)
    for c in range(1, n_classes):
        n_c = int(n_truth[c]) if c < len(n_truth) else 0
        tp_c = int(((t == c) & (p == c)).sum())
        fp_c = int(((t != c) & (p == c)).sum())
        denom = 2 * tp_c + fp_c + (n_c - tp_c)
        f1[c] = 2 * tp_c / denom if denom else 0.0
    present = np.flatnonzero(n_truth[1:n_classes] > 0) + 1 if n_classes > 1 else np.zeros(0, int)
    return {"localization_f1": float(loc), "class_f1": f1, "precision": precision, "recall": recall,
            "mean_class_f1": float(f1[present].mean()) if len(present) else 0.0, "n_picks": rr}


def _objective(result: dict, metric: str) -> float:
    if metric == "localization":
        return result["localization_f1"]
    if metric == "class":
        return result["mean_class_f1"]
    return 0.5 * (result["localization_f1"] + result["mean_class_f1"])


def tune_thresholds(peaks: Peaks, truth: Truth, n_classes: int, *, metric: str = "localization",
                    floor: float = 0.0, n_candidates: int = 48, sweeps: int = 3) -> tuple[np.ndarray, dict]:
    """Per-class score thresholds tuned on a tomogram with known truth.

    Per-class thresholds (index 0 unused, ``inf`` = no picks of that class) maximising ``metric``
    (``localization``, ``class`` = mean per-class F1, or ``both`` = their mean) on a tomogram whose
    truth is known, by coordinate ascent: each class in turn takes the best of ``n_candidates``
    score quantiles of its peaks (and ``inf``) with the others fixed. Returns (thresholds, evaluation).
    """
    if metric not in ("localization", "class", "both"):
        raise ValueError(f"unknown metric {metric!r}: localization, class or both")
    pid = hit_ids(peaks.xyz, truth.occupancy)
    thr = np.full(n_classes, float(floor))
    candidates = {}
    for c in range(1, n_classes):
        s = peaks.score[peaks.target == c]
        qs = np.unique(np.quantile(s, np.linspace(0, 1, n_candidates))) if len(s) else np.zeros(0)
        candidates[c] = np.r_[np.maximum(qs, floor), np.inf]
    best = _objective(evaluate(peaks, thr, truth, pid=pid), metric)
    for _ in range(sweeps):
        improved = False
        for c in range(1, n_classes):
            for value in candidates[c]:
                trial = thr.copy()
                trial[c] = value
                score = _objective(evaluate(peaks, trial, truth, pid=pid), metric)
                if score > best + 1e-12:
                    best, thr, improved = score, trial, True
        if not improved:
            break
    return thr, evaluate(peaks, thr, truth, pid=pid)
