"""Coarse-to-fine search: local refinement of coarse candidates in position and angle.

The coarse stage is :func:`~.matching.match_template` on a binned tomogram with a
coarse rotation grid (covering radius ``coarse_step``). A true particle then has a
coarse candidate within about one binned voxel of its centre whose best coarse
rotation is (if the coarse peak is right) within ``coarse_step`` of its pose.
Refinement revisits each candidate at full resolution:

* rotations: the fine grid's samples (covering radius ``fine_step``) within
  ``radius_deg`` of the coarse rotation, modulo the template's point group
  (default ``coarse_step + fine_step``, so the fine sample nearest the true pose
  is included whenever the coarse rotation is within ``coarse_step`` of it);
* positions: every voxel within ``shift_vox`` (a cube) of the candidate.

The score is the same local NCC as the exhaustive search: the subvolume around a
candidate is correlated with FFTs of its own size, and only positions whose
template box lies wholly inside the subvolume are read, so no wrap-around enters
and the refined score equals the exhaustive full-resolution score at that
position and rotation (tested). The cost per candidate is (rotations in the
local ball) x (one FFT of a box of ``template + 2 shift`` voxels), against
(all fine rotations) x (one FFT of the tomogram) for the exhaustive search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from baselines.template_matching import so3
from baselines.template_matching.correlation import LocalCorrelator, normalise_under_mask, rotate_batch
from baselines.template_matching.matching import PreparedTemplate
from baselines.template_matching.templates import wedge_mask


@dataclass
class Refined:
    """Refined candidates of one class: full-resolution positions, scores and fine-grid rotation indices."""

    zyx: np.ndarray        # (n, 3) int, full-resolution voxels
    scores: np.ndarray     # (n,) float, local NCC at full resolution
    index: np.ndarray      # (n,) int, into the fine template's rotations
    n_evaluated: int       # rotations x candidates evaluated (the cost, in small-box correlations)


def _subvolume(volume: np.ndarray, centre: np.ndarray, half: int) -> np.ndarray:
    """Box of ``2 half + 1`` voxels per axis around ``centre`` (indices wrap, like the circular search)."""
    idx = [np.arange(c - half, c + half + 1) % s for c, s in zip(centre, volume.shape)]
    return volume[np.ix_(*idx)]


def _refine_one(volume: np.ndarray, tpl: PreparedTemplate, centre: np.ndarray, indices: np.ndarray, *,
                shift_vox: int, wedge: torch.Tensor | None, device: str, batch: int
                ) -> tuple[np.ndarray, float, int]:
    """Best (position, score, rotation index) of one candidate over ``indices`` and shifts within ``shift_vox``."""
    size = tpl.template.shape[0]
    half = size // 2 + shift_vox
    corr = LocalCorrelator(_subvolume(volume, centre, half), tpl.mask, device=device)
    t_template = torch.as_tensor(tpl.template, device=device)[None, None]
    t_mask = torch.as_tensor(tpl.mask, device=device)
    lo, hi = size // 2, size // 2 + 2 * shift_vox + 1     # positions whose template box lies inside
    best, best_at, best_i = -np.inf, np.zeros(3, int), int(indices[0])
    for start in range(0, len(indices), batch):
        chunk = indices[start:start + batch]
        rotated = rotate_batch(t_template, tpl.rotations[chunk])
        if wedge is not None:
            rotated = torch.fft.irfftn(torch.fft.rfftn(rotated, dim=(-3, -2, -1)) * wedge,
                                       s=(size,) * 3, dim=(-3, -2, -1))
        s = corr.scores(normalise_under_mask(rotated, t_mask))[:, lo:hi, lo:hi, lo:hi]
        flat = int(torch.argmax(s))
        value = float(s.reshape(-1)[flat])
        if value > best:
            b, z, y, x = np.unravel_index(flat, s.shape)
            best, best_at, best_i = value, np.array([z, y, x]) - shift_vox, int(chunk[b])
    return np.asarray(centre) + best_at, best, best_i


def refine_candidates(volume: np.ndarray, tpl: PreparedTemplate, zyx: np.ndarray, coarse_rotations: np.ndarray,
                      *, radius_deg: float, shift_vox: int, tilt_range_deg: tuple[float, float] | None,
                      tilt_axis_deg: float = 0.0, device: str = "cpu", batch: int = 16) -> Refined:
    """Refine candidates ``zyx`` (n, 3) (full-resolution voxels) whose coarse rotations are ``coarse_rotations``.

    ``tpl`` is the full-resolution template with the *fine* rotation grid. A candidate
    with no fine sample within ``radius_deg`` uses the one nearest its coarse rotation.
    """
    volume = np.asarray(volume, dtype=np.float32)
    zyx = np.asarray(zyx, dtype=int).reshape(-1, 3)
    size = tpl.template.shape[0]
    wedge = None
    if tilt_range_deg is not None:
        wedge = torch.as_tensor(wedge_mask((size,) * 3, *tilt_range_deg, tilt_axis_deg), device=device)
    out_zyx, out_s, out_i, cost = np.zeros_like(zyx), np.zeros(len(zyx)), np.zeros(len(zyx), int), 0
    with torch.no_grad():
        for k, (centre, rot) in enumerate(zip(zyx, np.asarray(coarse_rotations).reshape(-1, 3, 3))):
            dist = so3.angular_distance_deg(tpl.rotations, rot, tpl.symmetry)[:, 0]
            indices = np.flatnonzero(dist <= radius_deg)
            if not len(indices):
                indices = np.array([int(np.argmin(dist))])
            out_zyx[k], out_s[k], out_i[k] = _refine_one(volume, tpl, centre, indices, shift_vox=shift_vox,
                                                         wedge=wedge, device=device, batch=batch)
            cost += len(indices)
    return Refined(out_zyx, out_s, out_i, cost)


def suppress_duplicates(zyx: np.ndarray, scores: np.ndarray, radius_vox: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression: in decreasing score, drop any point within
    ``radius_vox`` of a kept one (two coarse candidates may refine onto the same particle)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    pts = np.asarray(zyx, dtype=float)
    kept: list[int] = []
    for i in order:
        if kept and np.min(((pts[kept] - pts[i]) ** 2).sum(axis=1)) <= radius_vox ** 2:
            continue
        kept.append(int(i))
    return np.array(kept, dtype=int)
