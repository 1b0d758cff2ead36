"""Imaging = microscope + reconstruction: the noise-free sample -> what a participant sees.

Public interface (docs/microscope.md and the contracts):

- :class:`ImagingParams` (the ``imaging`` section of ``params.yaml``),
- :func:`image_sample` ``(grandmodel, voxel_size_a, params, rng) -> ImagingResult``,
- :func:`write_imaging` ``(result, out_dir)``.

The reconstruction lies on the grandmodel's grid (same shape and voxel size)
unless ``reconstruction.thickness_vox`` asks for another thickness; then it is
centred on the same centre voxel (``n // 2``) and ``acquisition.json`` gives the
z offset to add to ground-truth coordinates.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from tqdm import tqdm

from generator.microscope import ctf as ctfm
from generator.microscope.detector import (add_noise, apply_filter, detector_mtf, fourier_shift,
                                           ice_attenuation)
from generator.microscope.detector_frame import detector_shape, specimen_footprint, to_detector, to_specimen
from generator.microscope.formation import fast_views, multislice_view
from generator.microscope.geometry import make_tilt_series
from generator.microscope.params import (AcquisitionParams, DetectorParams, OpticsParams,
                                         ProjectionParams)
from generator.microscope.projector import view_matrix, volume_rows
from generator.reconstruction.params import ReconstructionParams
from generator.reconstruction.wbp import contrast_images, reconstruct
from tomobench.errors import InputError
from tomobench.params import Params
from tomobench.imod import write_tilt_stack
from tomobench.volumes import write_volume


class ImagingParams(Params):
    """All imaging parameters: acquisition, optics, projection, detector, reconstruction."""

    acquisition: AcquisitionParams = Field(default_factory=AcquisitionParams)
    optics: OpticsParams = Field(default_factory=OpticsParams)
    projection: ProjectionParams = Field(default_factory=ProjectionParams)
    detector: DetectorParams = Field(default_factory=DetectorParams)
    reconstruction: ReconstructionParams = Field(default_factory=ReconstructionParams)
    #: auto: CUDA when available, else CPU
    device: str = "auto"
    progress: bool = True


@dataclass
class ImagingResult:
    """Everything :func:`image_sample` produces (arrays ``float32``)."""

    projections: np.ndarray  # [n_tilts, y, x] in the detector frame (see tilt_axis_deg), ascending nominal angle
    tilt_angles_deg: np.ndarray  # nominal (recorded) angles
    reconstruction: np.ndarray  # [z, y, x]
    acquisition: dict[str, Any]
    voxel_size_a: float
    noise_free_reconstruction: np.ndarray | None = None
    noise_free_projections: np.ndarray | None = None
    #: per view: nominal, true angle, order, dose, accumulated dose, shift x, shift y
    misalignment: np.ndarray | None = None
    #: central slices of the grandmodel (xy, xz) for the picture
    preview: dict[str, np.ndarray] = field(default_factory=dict)
    #: wall time of each stage (seconds; not written to disk, so outputs stay reproducible)
    timings_s: dict[str, float] = field(default_factory=dict)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {name!r} requested but CUDA is not available; use device: auto or cpu")
    return torch.device(name)


def _check_input(grandmodel: np.ndarray, voxel_size_a: float) -> None:
    if not isinstance(grandmodel, np.ndarray) or grandmodel.ndim != 3:
        raise InputError(f"grandmodel must be a 3D array [z, y, x], got {getattr(grandmodel, 'shape', type(grandmodel))}")
    if min(grandmodel.shape) < 2:
        raise InputError(f"grandmodel shape {grandmodel.shape} is too small (each axis >= 2 voxels)")
    if not np.all(np.isfinite(grandmodel)):
        raise InputError("grandmodel holds NaN or infinite values")
    if not (voxel_size_a > 0 and math.isfinite(voxel_size_a)):
        raise InputError(f"voxel_size_a must be > 0 (got {voxel_size_a})")


def image_sample(grandmodel: np.ndarray, voxel_size_a: float, params: ImagingParams | None = None,
                 rng: np.random.Generator | None = None) -> ImagingResult:
    """Simulate the tilt series of ``grandmodel`` (potential, ``[z, y, x]``) and reconstruct it.

    Same ``params`` and ``rng`` state -> identical outputs (all randomness comes from ``rng``).
    """
    params = ImagingParams() if params is None else params
    rng = np.random.default_rng(0) if rng is None else rng
    _check_input(grandmodel, voxel_size_a)
    t0 = time.perf_counter()
    dev = _device(params.device)
    acq, opt, prj, det, rec = (params.acquisition, params.optics, params.projection, params.detector,
                               params.reconstruction)
    nz, ny, nx = grandmodel.shape
    axis_deg = acq.tilt_axis_deg
    # views are formed in the specimen frame (tilt axis = y), where the astigmatism sits at another angle
    opt_specimen = opt.model_copy(update={"astigmatism_angle_deg": opt.astigmatism_angle_deg - axis_deg})
    series = make_tilt_series(acq, rng)
    n = len(series.nominal_deg)
    depth_half = 0.5 * math.hypot(nz, nx) * voxel_size_a
    ctfm.check_sampling(voxel_size_a, min(ny, nx), opt, abs(opt.defocus_um * 1e4) + depth_half)

    # phase per voxel of path (rad), mean removed: the uniform part only attenuates (inelastic model)
    sigma = ctfm.interaction_constant(opt.voltage_kv) * prj.potential_scale_v * voxel_size_a
    gm = torch.from_numpy(np.ascontiguousarray(grandmodel, dtype=np.float32)).to(dev)
    phase = (gm - gm.mean()) * sigma
    struct_sigma = det.structural_noise_rel * float(phase.std())
    rows = volume_rows(phase)
    del gm, phase
    damage_b = det.damage_b_per_e_a2 * series.accumulated_dose_e_per_a2
    det_yx = detector_shape((ny, nx), axis_deg)
    mtf = detector_mtf(det_yx, det.detector, dev)
    attenuation = ice_attenuation(series.true_deg, nz * voxel_size_a, det.inelastic_mfp_nm)
    shifts = torch.from_numpy(series.shifts_px).to(dev)

    timings = {"setup": time.perf_counter() - t0}
    t0 = time.perf_counter()
    show = params.progress
    clean = np.empty((n, *det_yx), dtype=np.float32)
    bar = tqdm(total=n, desc=f"tilt series ({prj.mode})", file=sys.stderr, disable=not show, leave=False)
    if prj.mode == "fast":
        slab_vox = prj.slab_thickness_nm * 10.0 / voxel_size_a
        for start in range(0, n, prj.tilt_batch):
            idx = list(range(start, min(n, start + prj.tilt_batch)))
            views = [view_matrix(float(series.true_deg[i]), nz, nx, slab_vox=slab_vox, device=dev) for i in idx]
            img = fast_views(rows, views, nz, nx, voxel_size_a, opt_specimen, [float(damage_b[i]) for i in idx],
                             struct_sigma, rng, dev)
            clean[idx] = _finish(img, attenuation[idx], axis_deg, mtf, shifts[idx])
            bar.update(len(idx))
    else:
        slice_vox = prj.multislice_slice_nm * 10.0 / voxel_size_a
        for i in range(n):
            img = multislice_view(rows, float(series.true_deg[i]), nz, nx, voxel_size_a, opt_specimen, slice_vox,
                                  float(damage_b[i]), struct_sigma, rng, dev)[None]
            clean[i] = _finish(img, attenuation[[i]], axis_deg, mtf, shifts[[i]])[0]
            bar.update(1)
    bar.close()
    del rows
    timings["tilt_series"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    dose_per_pixel = series.dose_e_per_a2 * voxel_size_a**2
    noisy, noise_free, snr_measured = add_noise(
        clean, mode=det.noise_mode, snr=det.snr, dose_per_pixel=dose_per_pixel, attenuation=attenuation,
        detector=det.detector, dqe_zero=det.dqe_zero, rng=rng,
        signal_mask=None if axis_deg == 0 else specimen_footprint((ny, nx), axis_deg).numpy())
    del clean
    timings["noise"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    nz_rec = rec.thickness_vox or nz
    flip = rec.ctf_correction == "phase_flip"
    bar = tqdm(total=n * (1 + rec.noise_free) if rec.method == "wbp" else rec.sirt_iterations * (1 + rec.noise_free),
               desc=f"reconstruction ({rec.method})", file=sys.stderr, disable=not show, leave=False)

    def reconstruct_series(images: np.ndarray) -> np.ndarray:
        views = contrast_images(to_specimen(torch.from_numpy(images).to(dev), axis_deg, (ny, nx)), voxel_size_a,
                                opt_specimen, flip)
        return reconstruct(views, series.nominal_deg, nz_rec, rec, bar).cpu().numpy().astype(np.float32)

    volume = reconstruct_series(noisy)
    nf_volume = reconstruct_series(noise_free) if rec.noise_free else None
    bar.close()
    timings["reconstruction"] = time.perf_counter() - t0

    misalignment = np.column_stack([series.nominal_deg, series.true_deg, series.order, series.dose_e_per_a2,
                                    series.accumulated_dose_e_per_a2, series.shifts_px])
    acquisition = {
        "voltage_kv": opt.voltage_kv, "cs_mm": opt.cs_mm, "amplitude_contrast": opt.amplitude_contrast,
        "defocus_um": opt.defocus_um, "astigmatism_um": opt.astigmatism_um,
        "astigmatism_angle_deg": opt.astigmatism_angle_deg,
        "tilt_angles_deg": [float(a) for a in series.nominal_deg], "tilt_axis_deg": float(axis_deg),
        "reconstruction_tilt_axis_deg": 0.0, "projection_shape_yx": list(det_yx),
        "tilt_scheme": acq.scheme, "voxel_size_a": float(voxel_size_a),
        "dose_total_e_per_a2": acq.dose_total_e_per_a2,
        "snr": det.snr if det.noise_mode == "snr" else (None if det.noise_mode == "none" else _finite(snr_measured)),
        "snr_measured": _finite(snr_measured), "noise_mode": det.noise_mode,
        "phase_plate": opt.phase_plate, "phase_shift_deg": opt.phase_shift_deg if opt.phase_plate else 0.0,
        "projection_mode": prj.mode, "detector": det.detector, "reconstruction_method": rec.method,
        "ctf_correction": rec.ctf_correction, "reconstruction_shape_zyx": [nz_rec, ny, nx],
        "reconstruction_z_offset_vox": nz_rec // 2 - nz // 2,
        "projection_units": "electrons per pixel" if det.noise_mode == "dose" else "relative intensity",
    }
    preview = {"grandmodel_xy": np.asarray(grandmodel[nz // 2], np.float32),
               "grandmodel_xz": np.asarray(grandmodel[:, ny // 2, :], np.float32)}
    return ImagingResult(noisy, series.nominal_deg.copy(), volume, acquisition, float(voxel_size_a),
                         nf_volume, noise_free, misalignment, preview, timings)


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _finish(img: torch.Tensor, attenuation: np.ndarray, tilt_axis_deg: float, mtf: torch.Tensor,
            shifts: torch.Tensor) -> np.ndarray:
    """Attenuation, turn onto the detector, misalignment shift and detector MTF of noise-free views -> numpy."""
    img = img * torch.as_tensor(attenuation, dtype=img.dtype, device=img.device)[:, None, None]
    img = to_detector(img, tilt_axis_deg)
    if bool(torch.any(shifts != 0)):
        img = fourier_shift(img, shifts)
    return apply_filter(img, mtf).float().cpu().numpy()


def write_imaging(result: ImagingResult, out_dir: str | Path) -> None:
    """Write projections.mrc (+ .tlt, .rawtlt), tilt_angles.txt, misalignment.txt, reconstruction.mrc, acquisition.json,
    imaging.png (and noise_free_reconstruction.mrc when present) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # an IMOD image stack (ISPG 0) with projections.tlt / projections.rawtlt beside it
    write_tilt_stack(out / "projections.mrc", result.projections, result.voxel_size_a, result.tilt_angles_deg)
    np.savetxt(out / "tilt_angles.txt", result.tilt_angles_deg, fmt="%.4f")
    if result.misalignment is not None:
        np.savetxt(out / "misalignment.txt", result.misalignment, fmt="%.6g",
                   header="nominal_deg true_deg order dose_e_per_a2 accumulated_dose_e_per_a2 shift_x_px shift_y_px")
    write_volume(out / "reconstruction.mrc", result.reconstruction, result.voxel_size_a)
    if result.noise_free_reconstruction is not None:
        write_volume(out / "noise_free_reconstruction.mrc", result.noise_free_reconstruction, result.voxel_size_a)
    (out / "acquisition.json").write_text(json.dumps(result.acquisition, indent=2) + "\n", encoding="utf-8")
    _picture(result, out / "imaging.png")


def _picture(result: ImagingResult, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = result.reconstruction
    nz, ny, _ = rec.shape
    panels = [("reconstruction xy (central)", rec[nz // 2]), ("reconstruction xz (central)", rec[:, ny // 2, :])]
    if "grandmodel_xy" in result.preview:
        panels = [("grandmodel xy", result.preview["grandmodel_xy"]),
                  ("grandmodel xz", result.preview["grandmodel_xz"])] + panels
    mid = int(np.argmin(np.abs(result.tilt_angles_deg)))
    panels.append((f"tilt {result.tilt_angles_deg[mid]:+.0f}°", result.projections[mid]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, (title, img) in zip(axes, panels):
        lo, hi = np.percentile(img, [1, 99])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, origin="lower", aspect="equal")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(path, dpi=80)
    plt.close(fig)
