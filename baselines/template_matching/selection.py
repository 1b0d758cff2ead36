"""Turning per-class candidate lists into a submission: SHREC 2020's TM-T and TM-F rules.

Candidates are a DataFrame with columns ``class, x, y, z, phi, theta, psi, score``
(one tomogram), each class's rows in decreasing score order.

* **TM-T** (thresholded): the top ``N`` candidates of each class, classes taken
  from the largest particle to the smallest (by mass when known, as SHREC sorted
  its classes, else by radius).
* **TM-F** (filtered): the same walk, but a candidate is skipped when it overlaps
  a particle selected before it (centre distance < sum of the two radii); each
  class still contributes up to ``N`` particles.

An optional false-alarm cut-off (pytom-match-pick) keeps only scores above
``sigma * sqrt(2) * erfcinv(2 * n_false / (n_voxels * n_rotations))``: under
Gaussian noise of standard deviation ``sigma`` the whole search is then
expected to produce ``n_false`` false peaks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import erfcinv


def false_alarm_cutoff(sigma: float, n_voxels: int, n_rotations: int, n_false: float = 1.0) -> float:
    """Score above which ``n_false`` noise peaks are expected in ``n_voxels * n_rotations`` trials."""
    trials = float(n_voxels) * float(n_rotations)
    if trials <= 0 or n_false <= 0:
        raise ValueError("n_voxels, n_rotations and n_false must be positive")
    return float(sigma * math.sqrt(2.0) * erfcinv(min(2.0 * n_false / trials, 1.0)))


def _ordered_classes(radii_vox: dict[str, float], classes: list[str],
                     size: dict[str, float] | None = None) -> list[str]:
    """Largest first: by ``size`` (e.g. mass) when given, else by radius."""
    key = size or radii_vox
    return sorted(classes, key=lambda c: (-key.get(c, 0.0), c))


def tm_t(candidates: pd.DataFrame, n_per_class: dict[str, int], radii_vox: dict[str, float],
         size: dict[str, float] | None = None) -> pd.DataFrame:
    """TM-T: top N per class, largest class (by ``size``, else radius) first."""
    return _select(candidates, n_per_class, radii_vox, size, exclude_overlap=False)


def tm_f(candidates: pd.DataFrame, n_per_class: dict[str, int], radii_vox: dict[str, float],
         size: dict[str, float] | None = None) -> pd.DataFrame:
    """TM-F: as :func:`tm_t`, skipping candidates closer than the sum of radii to a selected particle."""
    return _select(candidates, n_per_class, radii_vox, size, exclude_overlap=True)


def _select(candidates: pd.DataFrame, n_per_class: dict[str, int], radii_vox: dict[str, float],
            size: dict[str, float] | None, *, exclude_overlap: bool) -> pd.DataFrame:
    """Select the top candidates of each class, optionally without overlaps.

    Up to N candidates per class in decreasing score, classes largest first; with
    ``exclude_overlap`` a candidate overlapping an already selected particle is skipped.
    """
    total = int(sum(n_per_class.values()))
    sel_xyz, sel_r, count = np.zeros((total, 3)), np.zeros(total), 0
    frames = []
    for name in _ordered_classes(radii_vox, list(n_per_class), size):
        rows = candidates[candidates["class"] == name].sort_values("score", ascending=False, kind="stable")
        r = radii_vox.get(name, 0.0)
        keep: list[int] = []
        for i, xyz in enumerate(rows[["x", "y", "z"]].to_numpy(float)):
            if len(keep) >= int(n_per_class[name]):
                break
            if exclude_overlap and np.any(((sel_xyz[:count] - xyz) ** 2).sum(axis=1) < (sel_r[:count] + r) ** 2):
                continue
            keep.append(i)
            sel_xyz[count], sel_r[count] = xyz, r
            count += 1
        frames.append(rows.iloc[keep])
    return pd.concat(frames, ignore_index=True) if frames else candidates.iloc[:0].copy()
