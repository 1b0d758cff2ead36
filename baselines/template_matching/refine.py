"""Coarse-to-fine search: local refinement of coarse candidates in position and angle.

The coarse stage is :func:`~.matching.match_template` on a binned tomogram with a
coarse rotation grid (covering radius ``coarse_step``). A true particle then has a
coarse candidate within about one binned voxel of its centre whose best coarse
rotation is (if the coarse peak is right) within ``coarse_step`` of its pose.
Refinement revisits each candidate at full resolution:

* rotations: optionally (``seed_rotations``, on by default in the pipeline) the
  whole coarse grid is first re-scored at full resolution at the candidate, and
  its best few rotations replace the binned scan's (at bin 2 a small template is too
  blurred for its pose: tested, the binned best pose of a 5-voxel particle was
  >100 degrees off while its position was right); then the fine grid's samples
  (covering radius ``fine_step``) within ``radius_deg`` of those rotations, modulo
  the template's point group (default ``coarse_step + fine_step``, so the fine
  sample nearest the true pose is included whenever the start is within
  ``coarse_step`` of it);
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


class _Box:
    """One candidate's subvolume with its local statistics, scored against rotated templates."""

    def __init__(self, volume: np.ndarray, tpl: PreparedTemplate, centre: np.ndarray, shift_vox: int,
                 wedge: torch.Tensor | None, device: str):
        self.size = tpl.template.shape[0]
        self.shift = shift_vox
        self.centre = np.asarray(centre)
        self.corr = LocalCorrelator(_subvolume(volume, centre, self.size // 2 + shift_vox), tpl.mask, device=device)
        self.template = torch.as_tensor(tpl.template, device=device)[None, None]
        self.mask = torch.as_tensor(tpl.mask, device=device)
        self.wedge = wedge

    def evaluate(self, matrices: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """Per rotation of ``matrices``: the best score over all shifts ``(n,)`` and where (zyx, ``(n, 3)``)."""
        lo, hi = self.size // 2, self.size // 2 + 2 * self.shift + 1   # template box wholly inside
        values, where = [], []
        for start in range(0, len(matrices), batch):
            rotated = rotate_batch(self.template, matrices[start:start + batch])
            if self.wedge is not None:
                rotated = torch.fft.irfftn(torch.fft.rfftn(rotated, dim=(-3, -2, -1)) * self.wedge,
                                           s=(self.size,) * 3, dim=(-3, -2, -1))
            s = self.corr.scores(normalise_under_mask(rotated, self.mask))[:, lo:hi, lo:hi, lo:hi]
            v, flat = s.reshape(len(s), -1).max(dim=1)
            values.append(v.cpu().numpy())
            where.append(np.stack(np.unravel_index(flat.cpu().numpy(), s.shape[1:]), axis=1))
        return np.concatenate(values), self.centre + np.concatenate(where) - self.shift


def refine_candidates(volume: np.ndarray, tpl: PreparedTemplate, zyx: np.ndarray, coarse_rotations: np.ndarray,
                      *, radius_deg: float, shift_vox: int, tilt_range_deg: tuple[float, float] | None,
                      tilt_axis_deg: float = 0.0, device: str = "cpu", batch: int = 16,
                      seed_rotations: np.ndarray | None = None, n_seeds: int = 3) -> Refined:
    """Refine candidates ``zyx`` (n, 3) (full-resolution voxels) whose coarse rotations are ``coarse_rotations``.

    ``tpl`` is the full-resolution template with the *fine* rotation grid. With
    ``seed_rotations`` (e.g. the whole coarse grid) each candidate first re-scores
    those at full resolution and starts from its ``n_seeds`` best (a binned scan finds
    positions more reliably than poses); the fine rotations within ``radius_deg`` of
    any start are then scored. A candidate with no fine sample within ``radius_deg``
    uses the one nearest its start.
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
            box = _Box(volume, tpl, centre, shift_vox, wedge, device)
            starts = rot[None]
            if seed_rotations is not None:
                seed_values, _ = box.evaluate(seed_rotations, batch)
                starts = seed_rotations[np.argsort(-seed_values, kind="stable")[:n_seeds]]
                cost += len(seed_rotations)
            dist = np.min([so3.angular_distance_deg(tpl.rotations, r, tpl.symmetry)[:, 0] for r in starts], axis=0)
            indices = np.flatnonzero(dist <= radius_deg)
            if not len(indices):
                indices = np.array([int(np.argmin(dist))])
            values, where = box.evaluate(tpl.rotations[indices], batch)
            j = int(np.argmax(values))
            out_zyx[k], out_s[k], out_i[k] = where[j], values[j], int(indices[j])
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
