"""Coarse-to-fine search: local refinement of coarse candidates in position and angle.

The coarse stage is :func:`~.matching.match_template` on a binned tomogram with a
coarse rotation grid (covering radius ``coarse_step``). It finds positions more
reliably than poses (tested: at bin 2 the best pose of a 5-voxel particle was
>100 degrees off while its position was right), so each candidate is revisited at
full resolution in three steps:

1. **re-seed**: every rotation of the coarse grid (``seed_rotations``), at the
   27 positions within one voxel of the candidate; the ``n_seeds`` best rotations
   are kept (without ``seed_rotations``: the scan's own rotation);
2. **position**: hill-climbing with the best seed over the 27 neighbours, at
   most ``shift_vox`` steps from the candidate;
3. **angle**: the fine grid's samples (covering radius ``fine_step``) within
   ``radius_deg`` of any seed, modulo the template's point group (default
   ``coarse_step + fine_step``: the fine sample nearest the true pose is then
   included whenever a seed is within ``coarse_step`` of it), at the 27
   positions around the centre.

Scores are the exhaustive search's local NCC, computed directly (no FFT, no
wrap-around): for the positions ``p`` of a candidate the subvolume patches under
the mask support form a matrix ``P`` (positions x support voxels), and for a
batch of templates (rotated, wedge-weighted and normalised under the mask exactly
as the exhaustive kernel does) the scores are one matrix product divided by the
local standard deviation of each patch (the tomogram is padded by wrap-around, as
the exhaustive search's borders are circular). Rotated templates are cached per class
(:class:`TemplateBank`): candidates share rotations, so each is rotated once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import torch

from baselines.template_matching import so3
from baselines.template_matching.correlation import normalise_under_mask, rotate_batch
from baselines.template_matching.matching import PreparedTemplate
from baselines.template_matching.templates import wedge_mask

_NEAR = np.array(list(product((-1, 0, 1), repeat=3)))     # the 27 offsets within one voxel


@dataclass
class Refined:
    """Refined candidates of one class: full-resolution positions, scores and fine-grid rotation indices."""

    zyx: np.ndarray        # (n, 3) int, full-resolution voxels
    scores: np.ndarray     # (n,) float, local NCC at full resolution
    index: np.ndarray      # (n,) int, into the fine template's rotations
    n_evaluated: int       # (rotation, position) scores evaluated, all candidates (screening included)
    kept: np.ndarray       # (n,) int, indices of the input candidates that were refined (all without screening)


class TemplateBank:
    """Rotated, wedge-weighted, mask-normalised templates of one class over the mask support, cached by index.

    ``budget_bytes`` bounds the cache; beyond it templates are recomputed on demand.
    """

    def __init__(self, tpl: PreparedTemplate, matrices: np.ndarray, wedge: torch.Tensor | None, device: str,
                 batch: int = 32, budget_bytes: float = 1.0e9):
        self.size = tpl.template.shape[0]
        self.matrices = np.asarray(matrices).reshape(-1, 3, 3)
        self.template = torch.as_tensor(tpl.template, device=device)[None, None]
        self.mask = torch.as_tensor(tpl.mask, device=device)
        self.support = torch.nonzero(self.mask.reshape(-1) > 0)[:, 0]
        self.wedge, self.batch = wedge, batch
        self.max_cached = int(budget_bytes // (4 * max(len(self.support), 1)))
        self.cache: dict[int, torch.Tensor] = {}

    def _compute(self, indices: np.ndarray) -> torch.Tensor:
        out = []
        for start in range(0, len(indices), self.batch):
            rotated = rotate_batch(self.template, self.matrices[indices[start:start + self.batch]])
            if self.wedge is not None:
                rotated = torch.fft.irfftn(torch.fft.rfftn(rotated, dim=(-3, -2, -1)) * self.wedge,
                                           s=(self.size,) * 3, dim=(-3, -2, -1))
            out.append(normalise_under_mask(rotated, self.mask).reshape(len(rotated), -1)[:, self.support])
        return torch.cat(out)

    def get(self, indices: np.ndarray) -> torch.Tensor:
        """Templates ``(len(indices), n_support)``."""
        indices = np.asarray(indices, dtype=int)
        missing = np.array([i for i in indices if int(i) not in self.cache], dtype=int)
        fresh = self._compute(missing) if len(missing) else None
        if fresh is not None and len(self.cache) + len(missing) <= self.max_cached:
            self.cache.update({int(i): fresh[k] for k, i in enumerate(missing)})
        lookup = {int(i): fresh[k] for k, i in enumerate(missing)} if fresh is not None else {}
        return torch.stack([self.cache[int(i)] if int(i) in self.cache else lookup[int(i)] for i in indices])


class _Volume:
    """The tomogram normalised (mean 0, std 1) and padded by wrap-around, as one flat tensor.

    Wrapping reproduces the circular borders of the exhaustive search; padding once
    makes every patch a plain gather of ``position + support offset`` (no modulo).
    """

    def __init__(self, volume: np.ndarray, pad: int, device: str):
        v = np.asarray(volume, dtype=np.float32)
        std = float(v.std())
        v = (v - float(v.mean())) / (std if std > 0 else 1.0)
        padded = np.pad(v, pad, mode="wrap")
        self.pad = pad
        self.strides = np.array([padded.shape[1] * padded.shape[2], padded.shape[2], 1])
        self.flat = torch.as_tensor(padded.reshape(-1), device=device)
        self.device = device

    def offsets(self, bank: TemplateBank) -> torch.Tensor:
        """Flat offsets of the bank's mask support from the template centre."""
        grid = np.stack(np.unravel_index(bank.support.cpu().numpy(), (bank.size,) * 3), axis=1) - bank.size // 2
        return torch.as_tensor(grid @ self.strides, device=self.device)


class _Patches:
    """Subvolume patches at ``positions`` under the mask support, with their local standard deviations."""

    def __init__(self, vol: _Volume, offsets: torch.Tensor, bank: TemplateBank, positions: np.ndarray,
                 eps: float):
        start = torch.as_tensor((np.asarray(positions) + vol.pad) @ vol.strides, device=vol.device)
        self.values = vol.flat[start[:, None] + offsets[None, :]]      # (n_positions, n_support)
        w = bank.mask.reshape(-1)[bank.support]
        n = w.sum()
        mean = self.values @ w / n
        var = (self.values * self.values) @ w / n - mean * mean
        self.inv_denom = 1.0 / (n * torch.clamp(torch.sqrt(torch.clamp(var, min=0.0)), min=eps))
        self.positions = np.asarray(positions)

    def scores(self, templates: torch.Tensor) -> torch.Tensor:
        """NCC ``(n_templates, n_positions)``."""
        return (templates @ self.values.T) * self.inv_denom[None]


def _best(patches: _Patches, bank: TemplateBank, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per index of ``indices``: best score over the patches' positions and that position."""
    s = patches.scores(bank.get(indices))
    value, where = s.max(dim=1)
    return value.cpu().numpy(), patches.positions[where.cpu().numpy()]


@dataclass
class _Search:
    """What every candidate of a class shares."""

    vol: _Volume
    offsets: torch.Tensor
    fine: TemplateBank
    seeds: TemplateBank | None
    symmetry: so3.PointGroup
    radius_deg: float
    shift_vox: int
    n_seeds: int
    eps: float = 1e-3

    def patches(self, bank: TemplateBank, positions: np.ndarray) -> _Patches:
        return _Patches(self.vol, self.offsets, bank, positions, self.eps)


def _climb(search: _Search, seeds: TemplateBank, centre: np.ndarray, index: int) -> tuple[np.ndarray, int]:
    """Hill-climb the position of one candidate for one seed rotation.

    Move to the best of the 27 neighbours until the
    centre is best or ``shift_vox`` is reached (the full-resolution NCC is smooth: the data are low-passed).
    """
    origin, cost = centre.copy(), 0
    for _ in range(search.shift_vox):
        _, where = _best(search.patches(seeds, centre + _NEAR), seeds, np.array([index]))
        cost += len(_NEAR)
        if np.array_equal(where[0], centre) or np.abs(where[0] - origin).max() > search.shift_vox:
            break
        centre = where[0]
    return centre, cost


def _refine_one(search: _Search, centre: np.ndarray, start: np.ndarray,
                seed_order: np.ndarray | None = None) -> tuple[np.ndarray, float, int, int]:
    """(position, score, fine index, scores evaluated) of one candidate; see the module docstring.

    ``seed_order`` (the best seed rotations, from :func:`screen_scores`) skips the re-seeding's scores.
    """
    cost, starts = 0, start[None]
    if search.seeds is not None:
        order = seed_order
        if order is None:
            values, _ = _best(search.patches(search.seeds, centre + _NEAR), search.seeds,
                              np.arange(len(search.seeds.matrices)))
            order = np.argsort(-values, kind="stable")[:search.n_seeds]
            cost = len(values) * len(_NEAR)
        starts = search.seeds.matrices[order]
        centre, n = _climb(search, search.seeds, centre, int(order[0]))
        cost += n
    dist = np.min([so3.angular_distance_deg(search.fine.matrices, r, search.symmetry)[:, 0] for r in starts],
                  axis=0)
    indices = np.flatnonzero(dist <= search.radius_deg)
    if not len(indices):
        indices = np.array([int(np.argmin(dist))])
    values, where = _best(search.patches(search.fine, centre + _NEAR), search.fine, indices)
    j = int(np.argmax(values))
    return where[j], float(values[j]), int(indices[j]), cost + len(indices) * len(_NEAR)


@dataclass
class Screened:
    """Per screened candidate: best score, the voxel where it was reached, the best seed rotations (indices)."""

    scores: np.ndarray     # (n,)
    zyx: np.ndarray        # (n, 3) int, full-resolution voxels
    seeds: np.ndarray      # (n, n_seeds) int, into the seed grid, best first


def screen_scores(search: _Search, origins: np.ndarray, cell_vox: int, chunk_positions: int = 512) -> Screened:
    """Best full-resolution score of each candidate over the seed grid and its binned voxel.

    ``origins`` (n, 3) are the first full-resolution voxels of the candidates' binned
    voxels (``bin * i``); each candidate is scored with every seed rotation at the
    ``cell_vox ** 3`` voxels ``origin + {0..cell_vox-1}^3`` it stands for, many
    candidates per matrix product. This is the re-seeding step's score at a
    fraction of its positions (8 of 27 at bin 2), used to rank many coarse peaks
    before only the best are refined; the refinement then starts from the screen's
    best voxel and best seed rotations instead of re-seeding.
    """
    assert search.seeds is not None
    cell = np.array(list(product(range(cell_vox), repeat=3)))
    origins = np.asarray(origins, int).reshape(-1, 3)
    templates = search.seeds.get(np.arange(len(search.seeds.matrices)))
    per = max(chunk_positions // len(cell), 1)                # candidates per matrix product
    best, where = np.empty(len(origins)), np.zeros((len(origins), 3), int)
    seeds = np.zeros((len(origins), min(search.n_seeds, len(templates))), int)
    for start in range(0, len(origins), per):
        block = origins[start:start + per]
        positions = (block[:, None, :] + cell[None]).reshape(-1, 3)
        scores = search.patches(search.seeds, positions).scores(templates)        # (rotations, positions)
        s = scores.reshape(len(templates), len(block), len(cell)).cpu().numpy()
        by_rotation = s.max(axis=2)                                               # (rotations, candidates)
        best[start:start + len(block)] = by_rotation.max(axis=0)
        cell_best = s.max(axis=0).argmax(axis=1)                                  # best voxel of each cell
        where[start:start + len(block)] = block + cell[cell_best]
        seeds[start:start + len(block)] = np.argsort(-by_rotation, axis=0, kind="stable")[:seeds.shape[1]].T
    return Screened(best, where, seeds)


def refine_candidates(volume: np.ndarray, tpl: PreparedTemplate, zyx: np.ndarray, coarse_rotations: np.ndarray,
                      *, radius_deg: float, shift_vox: int, tilt_range_deg: tuple[float, float] | None,
                      tilt_axis_deg: float = 0.0, device: str = "cpu", batch: int = 32,
                      seed_rotations: np.ndarray | None = None, n_seeds: int = 3,
                      cache_bytes: float = 1.0e9, screen_keep: int | None = None,
                      screen_origins: np.ndarray | None = None, cell_vox: int = 1) -> Refined:
    """Refine candidates ``zyx`` (n, 3) (full-resolution voxels) whose coarse rotations are ``coarse_rotations``.

    ``tpl`` is the full-resolution template with the *fine* rotation grid;
    ``seed_rotations`` (e.g. the coarse grid) enables the re-seeding step. Without
    it the position step is skipped too and the fine ball is centred on the scan's rotation.
    With ``screen_keep`` (and seeds) the candidates are first ranked by
    :func:`screen_scores` at ``screen_origins`` (default ``zyx``) over ``cell_vox``
    voxels, and only the best ``screen_keep`` are refined, from the screen's best voxel
    and seeds (no re-seeding); ``Refined.kept`` says which.
    """
    zyx = np.asarray(zyx, dtype=int).reshape(-1, 3)
    size = tpl.template.shape[0]
    wedge = None
    if tilt_range_deg is not None:
        wedge = torch.as_tensor(wedge_mask((size,) * 3, *tilt_range_deg, tilt_axis_deg), device=device)
    fine = TemplateBank(tpl, tpl.rotations, wedge, device, batch, cache_bytes)
    seeds = None if seed_rotations is None else TemplateBank(tpl, seed_rotations, wedge, device, batch, cache_bytes)
    vol = _Volume(volume, size // 2 + 2 * shift_vox + 2 + cell_vox, device)
    search = _Search(vol, vol.offsets(fine), fine, seeds, tpl.symmetry, radius_deg, shift_vox, n_seeds)
    kept, screen_cost, seed_orders = np.arange(len(zyx)), 0, [None] * len(zyx)
    if screen_keep is not None and seeds is not None:
        origins = zyx if screen_origins is None else np.asarray(screen_origins, int).reshape(-1, 3)
        with torch.no_grad():
            screened = screen_scores(search, origins, cell_vox)
        kept = np.sort(np.argsort(-screened.scores, kind="stable")[:screen_keep])   # the scan's order among the kept
        screen_cost = len(zyx) * cell_vox ** 3 * len(seeds.matrices)
        zyx, coarse_rotations = screened.zyx[kept], np.asarray(coarse_rotations).reshape(-1, 3, 3)[kept]
        seed_orders = list(screened.seeds[kept])
    out_zyx, out_s, out_i, cost = np.zeros_like(zyx), np.zeros(len(zyx)), np.zeros(len(zyx), int), screen_cost
    with torch.no_grad():
        for k, (centre, rot) in enumerate(zip(zyx, np.asarray(coarse_rotations).reshape(-1, 3, 3))):
            out_zyx[k], out_s[k], out_i[k], n = _refine_one(search, centre, rot, seed_orders[k])
            cost += n
    out_zyx = np.remainder(out_zyx, np.array(np.shape(volume)))   # positions wrapped like the scan's
    return Refined(out_zyx, out_s, out_i, cost, kept)


def suppress_duplicates(zyx: np.ndarray, scores: np.ndarray, radius_vox: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression.

    In decreasing score, drop any point within
    ``radius_vox`` of a kept one (two coarse candidates may refine onto the same particle).
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    pts = np.asarray(zyx, dtype=float)
    kept: list[int] = []
    for i in order:
        if kept and np.min(((pts[kept] - pts[i]) ** 2).sum(axis=1)) <= radius_vox ** 2:
            continue
        kept.append(int(i))
    return np.array(kept, dtype=int)
