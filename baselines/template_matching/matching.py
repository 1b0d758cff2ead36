"""Template matching of one tomogram with one class template: score and angle maps.

The template is prepared once (resampled to the working voxel size, CTF
filtered, boxed, masked) and then, per batch of rotations: rotated, weighted
by the missing wedge (in the tomogram frame), normalised under the spherical
mask and correlated with the tomogram (:class:`~.correlation.LocalCorrelator`).
The best score and the index of its rotation are kept per voxel. Volumes larger
than ``tile_voxels`` (FFT size) are processed in tiles with a halo of half the
template box, so tile seams do not change the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np
import torch
from tqdm import tqdm

from baselines.template_matching import so3
from baselines.template_matching.correlation import LocalCorrelator, fast_size, normalise_under_mask, rotate_batch
from baselines.template_matching.symmetry import detect_symmetry
from baselines.template_matching.templates import (
    apply_filter,
    centre_box,
    ctf_filter,
    resample,
    spherical_mask,
    support_radius_vox,
    wedge_mask,
)


@dataclass
class PreparedTemplate:
    """A class template ready for matching at the working voxel size."""

    name: str
    template: np.ndarray     # centred odd box, CTF-filtered (the wedge comes after rotation)
    mask: np.ndarray         # soft sphere in the same box
    radius_vox: float        # particle radius (peak exclusion, TM-F overlap), working voxels
    rotations: np.ndarray    # (n, 3, 3), a grid of SO(3) / symmetry
    symmetry: so3.PointGroup
    step_deg: float = float("nan")   # covering radius of ``rotations`` (NaN: not a step's grid)

    @property
    def z_symmetry(self) -> int:
        """Order of the group's main rotation axis (along ``symmetry.axis``, z unless aligned)."""
        return self.symmetry.order


@dataclass
class CorrelationStats:
    """Running sum of squared NCC over sampled rotations (pytom-match-pick's search statistics).

    ``sigma`` is the root mean square of the per-rotation NCC maps (not of the
    best-score map): under noise each (voxel, rotation) trial is ~ N(0, sigma^2).
    ``trials`` counts voxels x rotations of the whole search (the erfc rule's search space).
    """

    sum_sq: float = 0.0
    n_values: int = 0
    trials: int = 0

    @property
    def sigma(self) -> float:
        """Standard deviation of the NCC values under noise (NaN before any value)."""
        return math.sqrt(self.sum_sq / self.n_values) if self.n_values else float("nan")


def prepare_template(name: str, raw: np.ndarray, raw_voxel_a: float, work_voxel_a: float, *,
                     radius_a: float | None, acquisition: dict, sign: float, step_deg: float,
                     symmetry: "str | int | so3.PointGroup | None" = None, apply_ctf: bool = True,
                     mask_edge_vox: float = 1.0) -> PreparedTemplate:
    """Resample, CTF-filter (nominal defocus, zero beyond the first zero), box and mask a template.

    ``radius_a`` is the particle radius in Å (the class table's); ``None``
    measures it on the template (support above 5 % of the maximum).
    ``symmetry=None`` detects it on the template (:func:`~.symmetry.detect_symmetry`: any axes, the
    group's alignment makes the rotations poses of the unrotated template); an int is a Cn order.
    """
    factor = work_voxel_a / raw_voxel_a
    template = resample(raw, factor) if abs(factor - 1.0) > 1e-3 else np.asarray(raw, dtype=np.float32)
    radius_vox = radius_a / work_voxel_a if radius_a and np.isfinite(radius_a) else support_radius_vox(template)
    radius_vox = max(radius_vox, 1.0)
    mask_radius = max(radius_vox + 1.0, 2.0)
    size = 2 * int(math.ceil(mask_radius + 3 * mask_edge_vox)) + 1
    template = centre_box(template, max(size, template.shape[0] | 1))
    if apply_ctf:
        filt = ctf_filter((2 * template.shape[0],) * 3, work_voxel_a, sign=sign,
                          defocus_um=float(acquisition["defocus_um"]), voltage_kv=float(acquisition["voltage_kv"]),
                          cs_mm=float(acquisition["cs_mm"]),
                          amplitude_contrast=float(acquisition["amplitude_contrast"]))
        template = apply_filter(template, filt, pad=2)
    elif sign < 0:
        template = -template
    template = centre_box(template, size)
    group = detect_symmetry(template) if symmetry is None else so3.PointGroup.parse(symmetry)
    return PreparedTemplate(name, template, spherical_mask(size, mask_radius, mask_edge_vox), radius_vox,
                            so3.sample_rotations(step_deg, group), group, float(step_deg))


def tile_bounds(shape: tuple[int, int, int], max_voxels: int, halo: int):
    """Yield ``(core, read)``: core slices tiling ``shape`` and, per axis, the indices to read.

    Reads extend the core by ``halo`` on both sides, wrapping around the volume's
    ends, so every tile reproduces the circular correlation of the whole volume
    on its core. An axis left whole whose length is a fast FFT size needs no halo.
    """
    parts = [1, 1, 1]

    def core_len(i):
        return -(-shape[i] // parts[i])

    def extent(i):
        whole = parts[i] == 1 and fast_size(shape[i]) == shape[i]
        return fast_size(core_len(i) + (0 if whole else 2 * halo))

    while math.prod(extent(i) for i in range(3)) > max_voxels:
        splittable = [a for a in range(3) if core_len(a) > 2 * halo]
        if not splittable:
            break   # tiles cannot shrink further; accept the size
        parts[max(splittable, key=extent)] += 1
    edges = [np.linspace(0, s, p + 1).round().astype(int) for s, p in zip(shape, parts)]
    for idx in product(*(range(p) for p in parts)):
        core = tuple(slice(int(e[i]), int(e[i + 1])) for e, i in zip(edges, idx))
        read = []
        for c, s, p in zip(core, shape, parts):
            h = 0 if p == 1 and fast_size(s) == s else halo
            read.append(np.arange(c.start - h, c.stop + h) % s)
        yield core, tuple(read)


def match_template(volume: np.ndarray, tpl: PreparedTemplate, *, tilt_range_deg: tuple[float, float] | None,
                   tilt_axis_deg: float = 0.0, device: str = "cpu", batch: int = 8, tile_voxels: int = 2 ** 24,
                   progress: bool = True, stats: CorrelationStats | None = None,
                   stats_batches: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Best NCC score per voxel and the index (into ``tpl.rotations``) of the rotation that gave it.

    ``stats`` (optional) accumulates the search statistics of the erfc false-alarm
    rule: the squared NCC of every voxel for one rotation in each of up to
    ``stats_batches`` batches spread evenly over the rotation list (a sample keeps
    the kernel fast), and the number of voxel x rotation trials of the whole search.
    """
    volume = np.asarray(volume, dtype=np.float32)
    size = tpl.template.shape[0]
    t_template = torch.as_tensor(tpl.template, device=device)[None, None]
    t_mask = torch.as_tensor(tpl.mask, device=device)
    wedge = None
    if tilt_range_deg is not None:
        wedge = torch.as_tensor(wedge_mask((size,) * 3, *tilt_range_deg, tilt_axis_deg), device=device)
    scores = np.full(volume.shape, -np.inf, dtype=np.float32)
    index = np.zeros(volume.shape, dtype=np.int32)
    tiles = list(tile_bounds(volume.shape, tile_voxels, size // 2 + 1))
    n_rot = len(tpl.rotations)
    n_batches = -(-n_rot // batch)
    stride = max(1, -(-n_batches // max(stats_batches, 1)))   # sample at most stats_batches batches
    bar = tqdm(total=n_rot * len(tiles), desc=f"tm {tpl.name}", unit="rot", disable=not progress, leave=False)
    with torch.no_grad():
        for core, read in tiles:
            corr = LocalCorrelator(volume[np.ix_(*read)], tpl.mask, device=device)
            best = torch.full(corr.shape, -torch.inf, device=device)
            best_i = torch.zeros(corr.shape, dtype=torch.int32, device=device)
            local = tuple(slice(int(np.argmax(r == c.start)), int(np.argmax(r == c.start)) + c.stop - c.start)
                          for c, r in zip(core, read))
            inv2 = corr.inv_denom[local] ** 2 if stats is not None else None
            for k, start in enumerate(range(0, n_rot, batch)):
                mats = tpl.rotations[start:start + batch]
                rotated = rotate_batch(t_template, mats)
                if wedge is not None:
                    rotated = torch.fft.irfftn(torch.fft.rfftn(rotated, dim=(-3, -2, -1)) * wedge,
                                               s=(size,) * 3, dim=(-3, -2, -1))
                raw = corr.raw(normalise_under_mask(rotated, t_mask))
                # one rotation of the batch: cheap, and enough
                if stats is not None and inv2 is not None and k % stride == 0:
                    stats.sum_sq += float((raw[(slice(0, 1),) + local] ** 2 * inv2).sum())
                    stats.n_values += inv2.numel()
                value, arg = raw.max(dim=0)
                better = value > best
                best = torch.where(better, value, best)
                best_i = torch.where(better, arg.to(torch.int32) + start, best_i)
                bar.update(len(mats))
            if stats is not None:
                stats.trials += n_rot * math.prod(c.stop - c.start for c in core)
            scores[core] = (best * corr.inv_denom)[local].cpu().numpy()
            index[core] = best_i[local].cpu().numpy()
    bar.close()
    return scores, index


def bin_volume(volume: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor^3`` blocks (trailing voxels that do not fill a block are dropped)."""
    if factor == 1:
        return np.asarray(volume, dtype=np.float32)
    z, y, x = (s // factor for s in volume.shape)
    v = np.asarray(volume, dtype=np.float32)[: z * factor, : y * factor, : x * factor]
    return v.reshape(z, factor, y, factor, x, factor).mean(axis=(1, 3, 5))
