"""One class in one tomogram: exhaustive scan, candidate extraction, optional refinement.

* exhaustive (``fine`` is None): :func:`~.matching.match_template` on the (binned)
  tomogram with ``coarse.rotations``, then peaks;
* coarse-to-fine: the same scan is the coarse stage; its peaks are refined at
  full resolution with ``fine`` (the full-resolution template and the fine
  rotation grid; :func:`~.refine.refine_candidates`), and duplicates merged.

Candidate count: the top ``n_candidates`` peaks, or with ``n_false`` every peak
above pytom-match-pick's erfc cut-off of the scan (up to ``n_candidates``). The
cut-off is computed on the exhaustive (coarse) scan, whose search statistics it needs.
With ``refine_keep`` the peaks are screened at full resolution first (the coarse
grid over each peak's binned voxel) and only the best ``refine_keep`` are refined:
the binned scan ranks the particles of small classes far down its peak list, the
full-resolution score much less so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from baselines.template_matching.matching import CorrelationStats, PreparedTemplate, bin_volume, match_template
from baselines.template_matching.peaks import extract_peaks
from baselines.template_matching.refine import refine_candidates, suppress_duplicates
from baselines.template_matching.selection import false_alarm_cutoff


@dataclass
class ScanSettings:
    """How to scan: binning, wedge, device and kernel batching (shared by every class)."""

    bin: int = 1
    tilt_range_deg: tuple[float, float] | None = None
    tilt_axis_deg: float = 0.0
    device: str = "cpu"
    batch: int = 8
    tile_voxels: int = 2 ** 24
    refine_radius_deg: float | None = None   # None: coarse step + fine step
    refine_shift_vox: int | None = None      # None: bin + 1
    refine_batch: int = 16
    reseed_angles: bool = True               # re-score the coarse grid at full resolution before the fine ball


@dataclass
class ClassCandidates:
    """Candidates of one class: full-resolution ``zyx`` (float voxels), scores, rotations (n, 3, 3)."""

    zyx: np.ndarray
    scores: np.ndarray
    rotations: np.ndarray
    cutoff: float             # -inf without the false-alarm rule
    sigma: float              # RMS of the scan's per-rotation NCC
    scan_rotations: int
    refine_evaluations: int   # candidate x rotation correlations of the refinement (0 without it)
    score_map: np.ndarray     # the scan's best-score map (binned grid)
    index_map: np.ndarray


def binned_to_full(zyx: np.ndarray, factor: int) -> np.ndarray:
    """Centre (full-resolution voxels) of binned voxels ``zyx``: ``factor i + (factor - 1) / 2``."""
    return np.asarray(zyx, dtype=float) * factor + (factor - 1) / 2.0


def search_class(volume: np.ndarray, coarse: PreparedTemplate, fine: PreparedTemplate | None, *,
                 settings: ScanSettings, n_candidates: int, n_false: float | None = None,
                 exclusion_vox: float | None = None, coarse_step_deg: float = 0.0,
                 fine_step_deg: float = 0.0, refine_keep: int | None = None) -> ClassCandidates:
    """Scan ``volume`` (full resolution; binned here by ``settings.bin``) for one class.

    ``coarse`` is prepared at the binned voxel size; ``fine`` (or None: no refinement)
    at full resolution. ``exclusion_vox`` (binned voxels; default ``coarse.radius_vox``)
    is the radius of peak exclusion, and of duplicate merging after refinement.
    Step sizes are only used for the default refinement radius. With ``refine_keep``
    (and re-seeding) the ``n_candidates`` peaks are screened at full resolution
    (:func:`~.refine.screen_scores`) and only the best ``refine_keep`` refined.
    """
    exclusion = coarse.radius_vox if exclusion_vox is None else exclusion_vox
    work = bin_volume(volume, settings.bin)
    stats = CorrelationStats()
    scores, index = match_template(work, coarse, tilt_range_deg=settings.tilt_range_deg,
                                   tilt_axis_deg=settings.tilt_axis_deg, device=settings.device,
                                   batch=settings.batch, tile_voxels=settings.tile_voxels, progress=False,
                                   stats=stats)
    cutoff = -np.inf
    if n_false is not None:
        cutoff = false_alarm_cutoff(stats.sigma, work.size, len(coarse.rotations), n_false)
    zyx, values = extract_peaks(scores, n_candidates, exclusion, min_score=cutoff)
    rotations = coarse.rotations[index[tuple(zyx.T)]] if len(zyx) else np.zeros((0, 3, 3))
    full_zyx, evaluations = binned_to_full(zyx, settings.bin), 0
    if fine is not None and len(zyx):
        radius = settings.refine_radius_deg or coarse_step_deg + fine_step_deg
        shift = settings.refine_shift_vox if settings.refine_shift_vox is not None else settings.bin + 1
        refined = refine_candidates(volume, fine, np.round(full_zyx).astype(int), rotations, radius_deg=radius,
                                    shift_vox=shift, tilt_range_deg=settings.tilt_range_deg,
                                    tilt_axis_deg=settings.tilt_axis_deg, device=settings.device,
                                    batch=settings.refine_batch,
                                    seed_rotations=coarse.rotations if settings.reseed_angles else None,
                                    screen_keep=refine_keep, screen_origins=zyx * settings.bin,
                                    cell_vox=settings.bin)
        keep = suppress_duplicates(refined.zyx, refined.scores, exclusion * settings.bin)
        full_zyx, values = refined.zyx[keep].astype(float), refined.scores[keep]
        rotations, evaluations = fine.rotations[refined.index[keep]], refined.n_evaluated
    return ClassCandidates(full_zyx, np.asarray(values, float), rotations, cutoff, stats.sigma,
                           len(coarse.rotations), evaluations, scores, index)
