"""Candidate positions for DoG+CNN: the DoG picker's filter and peaks (:mod:`baselines.dog`).

Response = G(sigma) * v - G(ratio * sigma) * v on the normalised tomogram, sign
chosen so particles give positive peaks (``polarity``: +1 bright particles,
-1 dark). Peaks are local maxima over a cube of ``2 * ceil(min_distance) + 1``,
above the ``quantile`` of the response, the strongest ``max_candidates`` kept.
A candidates file (``--candidates``, any particle-list format) replaces them.
"""

from __future__ import annotations

import numpy as np

from baselines.dog import dog_filter, local_peaks


def dog_candidates(volume: np.ndarray, sigma_vox: float, *, ratio: float = 1.6, polarity: float = 1.0,
                   min_distance_vox: float = 5.0, quantile: float = 0.9,
                   max_candidates: int = 5000) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of the DoG response: ``(xyz (N, 3) voxels, response (N,))``, strongest first."""
    response = polarity * dog_filter(volume, sigma_vox, ratio)
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
