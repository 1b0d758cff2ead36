"""Peak extraction by iterative arg-max with exclusion spheres.

Repeatedly take the highest remaining voxel of a score map, record it, and
blank a sphere of ``radius_vox`` around it, until ``n_max`` peaks are found or
the highest remaining score falls below ``min_score``. To keep each arg-max
cheap the map is cut into blocks whose maxima are cached; blanking a sphere
only recomputes the blocks it touches. The result equals the naive loop.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 8


def extract_peaks(score_map: np.ndarray, n_max: int, radius_vox: float, *,
                  min_score: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of a ``[z, y, x]`` map: ``(zyx (n, 3) int, scores (n,))``, in decreasing score order."""
    shape = np.array(score_map.shape)
    nb = -(-shape // BLOCK)
    work = np.full(tuple(nb * BLOCK), -np.inf, dtype=np.float32)
    work[: shape[0], : shape[1], : shape[2]] = score_map
    block_max = _block_max(work, nb)
    r = max(float(radius_vox), 0.0)
    ri = int(math.floor(r))
    ax = np.arange(-ri, ri + 1)
    ball = (ax[:, None, None] ** 2 + ax[None, :, None] ** 2 + ax[None, None, :] ** 2) <= r * r
    found: list[np.ndarray] = []
    scores: list[float] = []
    while len(found) < n_max:
        b = np.unravel_index(int(np.argmax(block_max)), block_max.shape)
        best = float(block_max[b])
        if not np.isfinite(best) or best < min_score:
            break
        sl = tuple(slice(i * BLOCK, (i + 1) * BLOCK) for i in b)
        local = np.unravel_index(int(np.argmax(work[sl])), (BLOCK,) * 3)
        p = np.array(b) * BLOCK + np.array(local)
        found.append(p)
        scores.append(best)
        lo, hi = p - ri, p + ri + 1
        clo, chi = np.maximum(lo, 0), np.minimum(hi, shape)
        sub = ball[tuple(slice(a - o, b_ - o) for a, b_, o in zip(clo, chi, lo))]
        region = work[tuple(slice(a, b_) for a, b_ in zip(clo, chi))]
        region[sub] = -np.inf
        work[tuple(p)] = -np.inf   # radius 0 still removes the peak itself
        b0, b1 = clo // BLOCK, (np.maximum(chi, clo + 1) - 1) // BLOCK + 1
        sub_work = work[tuple(slice(a * BLOCK, c * BLOCK) for a, c in zip(b0, b1))]
        block_max[tuple(slice(a, c) for a, c in zip(b0, b1))] = _block_max(sub_work, b1 - b0)
    return np.array(found, dtype=int).reshape(-1, 3), np.array(scores, dtype=float)


def _block_max(work: np.ndarray, nb: np.ndarray) -> np.ndarray:
    return work.reshape(nb[0], BLOCK, nb[1], BLOCK, nb[2], BLOCK).max(axis=(1, 3, 5))

