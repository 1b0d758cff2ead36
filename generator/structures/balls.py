"""Multi-ball coarse-graining (Liu et al., the multi-ball packing paper, Fig. 8).

Atoms are clustered with k-means, ``k = max(3, ceil(N_atoms / 5000))``; each ball
sits at a cluster centre with the radius of its farthest atom, so the balls cover
every atom. :func:`union_volume_a3` voxelizes the union of balls to compare it with
the single bounding ball and the isosurface volume.
"""

from __future__ import annotations

import math

import numpy as np


def n_balls(n_atoms: int, atoms_per_ball: int = 5000, minimum: int = 3) -> int:
    """``k = max(minimum, ceil(n_atoms / atoms_per_ball))``."""
    return max(minimum, math.ceil(n_atoms / atoms_per_ball))


def _lloyd(points: np.ndarray, centres: np.ndarray, n_iter: int, tol_a: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    k = len(centres)
    sq = (points ** 2).sum(axis=1)[:, None]
    labels = np.zeros(len(points), np.int64)
    for _ in range(n_iter):
        dist = sq - 2.0 * points @ centres.T + (centres ** 2).sum(axis=1)[None, :]
        labels = dist.argmin(axis=1)
        counts = np.bincount(labels, minlength=k)
        new = centres.copy()
        for dim in range(points.shape[1]):
            sums = np.bincount(labels, weights=points[:, dim], minlength=k)
            new[:, dim] = np.where(counts > 0, sums / np.maximum(counts, 1), centres[:, dim])
        moved = float(np.abs(new - centres).max())
        centres = new
        if moved < tol_a:
            break
    dist = sq - 2.0 * points @ centres.T + (centres ** 2).sum(axis=1)[None, :]
    return centres, dist.argmin(axis=1)


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, *, n_iter: int = 50,
           sample: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """k-means (k-means++ seeding, Lloyd iterations): ``(centres (k, 3), labels (N,))``; deterministic per rng.

    Large point sets are first clustered on a random subset of ``sample`` points, then
    refined with a few Lloyd iterations on all points.

    Parameters
    ----------
    points : np.ndarray
        ``(N, 3)`` points (any length unit, Å in the library), N >= k.
    k : int
        Number of clusters.
    rng : np.random.Generator
        Source of the subset and the seeding.
    n_iter : int
        Lloyd iterations on the subset.
    sample : int
        Size of the subset used when N is larger.

    Returns
    -------
    tuple of np.ndarray
        Centres ``(k, 3)`` (same unit as ``points``) and the cluster of each point, ``(N,)`` int.
    """
    points = np.asarray(points, float)
    n = len(points)
    if n < k:
        raise ValueError(f"k-means needs at least k={k} points, got {n}")
    subset = points[rng.choice(n, sample, replace=False)] if n > sample else points
    centres = np.empty((k, points.shape[1]))
    centres[0] = subset[rng.integers(len(subset))]
    d2 = ((subset - centres[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = d2.sum()
        idx = rng.choice(len(subset), p=d2 / total) if total > 0 else rng.integers(len(subset))
        centres[j] = subset[idx]
        d2 = np.minimum(d2, ((subset - centres[j]) ** 2).sum(axis=1))
    centres, _ = _lloyd(subset, centres, n_iter)
    return _lloyd(points, centres, 2 if n > sample else 0)


def ball_model(points_a: np.ndarray, k: int, rng: np.random.Generator, *, margin_a: float = 0.0) -> np.ndarray:
    """Balls ``(k, 4)``: x, y, z, radius (Å); radius = farthest member + ``margin_a``; covers all points.

    Parameters
    ----------
    points_a : np.ndarray
        ``(N, 3)`` x y z of the points to cover (Å), N >= k.
    k : int
        Number of balls (k-means clusters, :func:`kmeans`).
    rng : np.random.Generator
        Source of the k-means seeding.
    margin_a : float
        Added to each radius (Å), e.g. half a voxel for points that are voxel centres.

    Returns
    -------
    np.ndarray
        ``(k', 4)`` x, y, z, radius in Å, k' <= k (empty clusters dropped).
    """
    centres, labels = kmeans(points_a, k, rng)
    dist = np.sqrt(((points_a - centres[labels]) ** 2).sum(axis=1))
    radius = np.zeros(k)
    np.maximum.at(radius, labels, dist)
    keep = np.bincount(labels, minlength=k) > 0
    return np.column_stack([centres, radius + margin_a])[keep]


def union_volume_a3(balls: np.ndarray, spacing_a: float) -> float:
    """Volume (Å³) of the union of balls, counted on a grid of ``spacing_a``.

    Parameters
    ----------
    balls : np.ndarray
        ``(k, 4)`` x, y, z, radius (Å).
    spacing_a : float
        Grid spacing (Å); a grid point inside any ball counts ``spacing_a³``.

    Returns
    -------
    float
        The union's volume in Å³.
    """
    balls = np.asarray(balls, float).reshape(-1, 4)
    lo = (balls[:, :3] - balls[:, 3:]).min(axis=0)
    hi = (balls[:, :3] + balls[:, 3:]).max(axis=0)
    axes = [np.arange(a + spacing_a / 2, b, spacing_a) for a, b in zip(lo, hi)]
    inside = np.zeros([len(a) for a in axes], bool)
    for x, y, z, r in balls:
        d2 = (((axes[0] - x) ** 2)[:, None, None] + ((axes[1] - y) ** 2)[None, :, None]
              + ((axes[2] - z) ** 2)[None, None, :])
        inside |= d2 <= r * r
    return float(inside.sum()) * spacing_a ** 3


def ball_report_row(name: str, balls: np.ndarray, bounding_radius_a: float, isosurface_nm3: float,
                    spacing_a: float) -> dict:
    """One row of the Fig. 8 comparison: isosurface, multi-ball and single-ball volumes (nm³)."""
    multi = union_volume_a3(balls, spacing_a) / 1000.0
    single = 4.0 / 3.0 * math.pi * bounding_radius_a ** 3 / 1000.0
    return {"class_name": name, "n_balls": len(balls), "isosurface_nm3": isosurface_nm3,
            "multi_ball_nm3": multi, "single_ball_nm3": single,
            "saving_vs_single_pct": 100.0 * (1.0 - multi / single) if single > 0 else math.nan}
