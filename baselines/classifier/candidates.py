"""Candidate positions for DoG+CNN: a tiny local difference-of-Gaussians peak finder.

Kept local on purpose (baselines import no sibling baseline); at merge it can be
replaced by the classical branch's DoG picker (``baselines/dog.py``) or fed from
a candidates file (``--candidates``, any particle-list format).

Response = G(sigma) * v - G(ratio * sigma) * v on the normalised tomogram, sign
chosen so particles give positive peaks (``polarity``: +1 bright particles,
-1 dark). Peaks are local maxima over a cube of ``2 * min_distance + 1``,
above the ``quantile`` of the response, the strongest ``max_candidates`` kept.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def dog_response(volume: np.ndarray, sigma_vox: float, ratio: float = 1.6, polarity: float = 1.0) -> np.ndarray:
    v = np.asarray(volume, dtype=np.float32)
    return polarity * (ndimage.gaussian_filter(v, sigma_vox) - ndimage.gaussian_filter(v, ratio * sigma_vox))


def dog_candidates(volume: np.ndarray, sigma_vox: float, *, ratio: float = 1.6, polarity: float = 1.0,
                   min_distance_vox: float = 5.0, quantile: float = 0.9,
                   max_candidates: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the DoG response: ``(xyz (N, 3) voxels, response (N,))``, strongest first."""
    r = dog_response(volume, sigma_vox, ratio, polarity)
    size = 2 * int(round(min_distance_vox)) + 1
    peaks = (r == ndimage.maximum_filter(r, size=size, mode="nearest")) & (r > np.quantile(r, quantile))
    zyx = np.argwhere(peaks)
    score = r[peaks]
    order = np.argsort(-score, kind="stable")[:max_candidates]
    return zyx[order][:, ::-1].astype(float), score[order].astype(float)


def contrast_polarity(volume: np.ndarray, target: np.ndarray) -> float:
    """+1 if particle voxels (target > 0) are brighter than background on average, else -1."""
    fg = target > 0
    if not fg.any() or fg.all():
        return 1.0
    return 1.0 if float(volume[fg].mean()) >= float(volume[~fg].mean()) else -1.0
