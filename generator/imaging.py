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

import math
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from pydantic import Field
from tqdm import tqdm

from generator.microscope import ctf as ctfm
from generator.microscope.damage import damage_dose_e_per_a2, damage_filters
from generator.microscope.detector import (
    add_noise,
    apply_filter,
    detected_fraction,
    detector_mtf,
    equivalent_dose_total_e_per_a2,
    fourier_disk,
    fourier_shift,
    ice_attenuation,
    shrec2020_expected_snr,
    shrec_noise_filter,
    snr_per_view,
)
from generator.microscope.detector_frame import detector_shape, specimen_footprint, to_detector, to_specimen
from generator.microscope.formation import fast_views, material_rows, multislice_view
from generator.microscope.geometry import TiltSeries, make_tilt_series
from generator.microscope.params import AcquisitionParams, DetectorParams, OpticsParams, ProjectionParams
from generator.microscope.projector import view_matrix, volume_rows
from generator.reconstruction.params import ReconstructionParams
from generator.reconstruction.wbp import contrast_images, reconstruct
from tomobench.acquisition import ACQUISITION_JSON, AcquisitionRecord
from tomobench.errors import InputError
from tomobench.imod import write_tilt_stack
from tomobench.params import Params
from tomobench.volumes import write_volume

SNR_DEFINITION = ("mean_i var(noise-free view_i) / mean_i var(noise_i), variances over the pixels of each "
                  "view (the noise-free view after CTF, damage, attenuation and detector MTF)")


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
    acquisition: AcquisitionRecord
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
        raise InputError("grandmodel must be a 3D array [z, y, x], "
                         f"got {getattr(grandmodel, 'shape', type(grandmodel))}")
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

    Parameters
    ----------
    grandmodel : numpy.ndarray
        (Z, Y, X) the scattering potential per voxel, in units of ``projection.potential_scale_v``
        volts, finite; each axis at least 2 voxels.
    voxel_size_a : float
        Voxel size in Å, > 0 (also the pixel size of the views).
    params : ImagingParams or None
        Acquisition, optics, projection, detector and reconstruction; None = the defaults.
    rng : numpy.random.Generator or None
        The source of every random draw (tilt errors, shifts, noise); None = ``default_rng(0)``.

    Returns
    -------
    ImagingResult
        The projections (n_tilts, Y', X') in the detector frame, the nominal angles (n_tilts,) in
        degrees, the reconstruction (Z', Y, X) (Z' = ``reconstruction.thickness_vox`` or Z), the
        acquisition record and, when asked for, the noise-free views and reconstruction.

    Raises
    ------
    InputError
        When ``grandmodel`` or ``voxel_size_a`` is invalid, or the CTF aliases on the grid.
    """
    params = ImagingParams() if params is None else params
    rng = np.random.default_rng(0) if rng is None else rng
    _check_input(grandmodel, voxel_size_a)
    t0 = time.perf_counter()
    dev = _device(params.device)
    acq, opt, det, rec = params.acquisition, params.optics, params.detector, params.reconstruction
    nz, ny, nx = grandmodel.shape
    axis_deg = acq.tilt_axis_deg
    # views are formed in the specimen frame (tilt axis = y), where the astigmatism sits at another angle
    opt_specimen = opt.model_copy(update={"astigmatism_angle_deg": opt.astigmatism_angle_deg - axis_deg})
    series = make_tilt_series(acq, rng)
    depth_half = 0.5 * math.hypot(nz, nx) * voxel_size_a
    ctfm.check_sampling(voxel_size_a, min(ny, nx), opt, abs(opt.defocus_a) + depth_half)
    det_yx = detector_shape((ny, nx), axis_deg)
    mask = None if axis_deg == 0 else specimen_footprint((ny, nx), axis_deg).numpy()
    timings = {"setup": time.perf_counter() - t0}

    t0 = time.perf_counter()
    clean = _clean_series(grandmodel, voxel_size_a, params, opt_specimen, series, det_yx, rng, dev)
    timings["tilt_series"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    shrec_filter = (shrec_noise_filter(det_yx, voxel_size_a, opt, opt.ctf_decay_nyquist, dev)
                    if det.noise_mode == "shrec2020" else None)
    clean, series, dose_total = _damage(clean, series, voxel_size_a, det, acq.dose_total_e_per_a2, shrec_filter, dev)
    dose_per_pixel = series.dose_e_per_a2 * voxel_size_a**2
    noisy, noise_free, snr_measured = add_noise(
        clean, mode=det.noise_mode, snr=det.snr, dose_per_pixel=dose_per_pixel, detector=det.detector,
        dqe_zero=det.dqe_zero, rng=rng, signal_mask=mask, shrec_filter=shrec_filter)
    noise = {"snr_measured": snr_measured, "dose_total": dose_total,
             "per_view": snr_per_view(noise_free, noisy, mask),
             "equivalent_dose": equivalent_dose_total_e_per_a2(
                 clean, snr_measured, voxel_size_a, det.detector, det.dqe_zero, mask)}
    del clean
    timings["noise"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    nz_rec = rec.thickness_vox or nz
    volume, nf_volume = _reconstruct(noisy, noise_free if rec.noise_free else None, series.nominal_deg, nz_rec,
                                     params, optics=opt_specimen, specimen_yx=(ny, nx), voxel_size_a=voxel_size_a,
                                     dev=dev)
    timings["reconstruction"] = time.perf_counter() - t0

    misalignment = np.column_stack([series.nominal_deg, series.true_deg, series.order, series.dose_e_per_a2,
                                    series.accumulated_dose_e_per_a2, series.shifts_px])
    acquisition = _acquisition_record(params, series, det_yx, voxel_size_a, (nz_rec, ny, nx), nz, noise)
    preview = {"grandmodel_xy": np.asarray(grandmodel[nz // 2], np.float32),
               "grandmodel_xz": np.asarray(grandmodel[:, ny // 2, :], np.float32)}
    return ImagingResult(noisy, series.nominal_deg.copy(), volume, acquisition, float(voxel_size_a),
                         nf_volume, noise_free, misalignment, preview, timings)


def _reconstruct(noisy: np.ndarray, noise_free: np.ndarray | None, angles_deg: np.ndarray, nz_rec: int,
                 params: ImagingParams, *, optics: OpticsParams, specimen_yx: tuple[int, int], voxel_size_a: float,
                 dev: torch.device) -> tuple[np.ndarray, np.ndarray | None]:
    """Reconstructions ``[nz_rec, y, x]`` of the noisy views and, when given, of the noise-free ones."""
    rec, axis_deg = params.reconstruction, params.acquisition.tilt_axis_deg
    runs = 1 + (noise_free is not None)
    bar = tqdm(total=len(angles_deg) * runs if rec.method == "wbp" else rec.sirt_iterations * runs,
               desc=f"reconstruction ({rec.method})", file=sys.stderr, disable=not params.progress, leave=False)

    def one(images: np.ndarray) -> np.ndarray:
        views = contrast_images(to_specimen(torch.from_numpy(images).to(dev), axis_deg, specimen_yx), voxel_size_a,
                                optics, rec.ctf_correction == "phase_flip", rec.contrast)
        return reconstruct(views, angles_deg, nz_rec, rec, bar).cpu().numpy().astype(np.float32)

    volume = one(noisy)
    nf_volume = one(noise_free) if noise_free is not None else None
    bar.close()
    return volume, nf_volume


def phase_rows(grandmodel: np.ndarray, voxel_size_a: float, optics: OpticsParams, projection: ProjectionParams,
               detector: DetectorParams, device) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The phase volume as projector rows, its material per layer and the structural-noise std.

    Phase per voxel of path ``sigma * V * voxel_a``. The mean of each z layer is removed: a laterally
    uniform layer (ice, the vacuum above and below it) shifts the phase of every ray alike in an
    infinite slab, so it has no contrast; removing it per layer (not one global mean) keeps rays
    that leave the box through its sides at high tilt from seeing a step (the vacuum-edge artefact).
    The uniform matter only attenuates (the inelastic model). The structural noise is
    ``structural_noise_rel`` times the ice potential, taken as the median of the matter voxels (> 0).

    Parameters
    ----------
    grandmodel : numpy.ndarray
        (Z, Y, X) the scattering potential per voxel (units of ``projection.potential_scale_v`` volts).
    voxel_size_a : float
        Voxel size in Å.
    optics : OpticsParams
        Gives the voltage (kV), which sets the interaction constant.
    projection : ProjectionParams
        Gives ``potential_scale_v``, volts per grandmodel unit.
    detector : DetectorParams
        Gives ``structural_noise_rel``, the structural-noise std relative to the ice potential.
    device : torch.device or str
        Where the rows are made.

    Returns
    -------
    rows : torch.Tensor
        (Z * X, Y) the phase per voxel in rad, layer mean removed (:func:`volume_rows` layout).
    material : torch.Tensor
        (Z * X, 1) the fraction of matter voxels of each z layer (:func:`material_rows`).
    struct_sigma : float
        The structural-noise std in rad per voxel (0 when ``structural_noise_rel`` is 0).
    """
    sigma = ctfm.interaction_constant(optics.voltage_kv) * projection.potential_scale_v * voxel_size_a
    gm = torch.from_numpy(np.ascontiguousarray(grandmodel, dtype=np.float32)).to(device)
    material = material_rows(gm)
    struct_sigma = 0.0
    if detector.structural_noise_rel > 0:
        sample = grandmodel[::2, ::2, ::2]
        matter = sample[sample > 0]
        ice = float(np.median(matter)) if matter.size else 0.0
        struct_sigma = detector.structural_noise_rel * ice * sigma
    phase = (gm - gm.mean(dim=(1, 2), keepdim=True)) * sigma
    return volume_rows(phase), material, struct_sigma


def _clean_series(grandmodel: np.ndarray, voxel_size_a: float, params: ImagingParams, optics: OpticsParams,
                  series: TiltSeries, det_yx: tuple[int, int], rng: np.random.Generator,
                  dev: torch.device) -> np.ndarray:
    """Noise-free, undamaged views ``[n, *det_yx]`` (relative intensity, attenuation and MTF applied)."""
    prj, det, acq = params.projection, params.detector, params.acquisition
    nz, _, nx = grandmodel.shape
    n = len(series.nominal_deg)
    rows, material, struct_sigma = phase_rows(grandmodel, voxel_size_a, params.optics, prj, det, dev)
    mtf = detector_mtf(det_yx, det.detector, dev)
    attenuation = ice_attenuation(series.true_deg, nz * voxel_size_a, det.inelastic_mfp_nm)
    shifts = torch.from_numpy(series.shifts_px).to(dev)
    clean = np.empty((n, *det_yx), dtype=np.float32)
    bar = tqdm(total=n, desc=f"tilt series ({prj.mode})", file=sys.stderr, disable=not params.progress, leave=False)
    if prj.mode == "fast":
        slab_vox = prj.slab_thickness_a / voxel_size_a
        for start in range(0, n, prj.tilt_batch):
            idx = list(range(start, min(n, start + prj.tilt_batch)))
            views = [view_matrix(float(series.true_deg[i]), nz, nx, slab_vox=slab_vox, device=dev) for i in idx]
            img = fast_views(rows, views, voxel_size_a, optics, material, struct_sigma, rng, dev)
            clean[idx] = _finish(img, attenuation[idx], acq.tilt_axis_deg, mtf, shifts[idx])
            bar.update(len(idx))
    else:
        slice_vox = prj.multislice_slice_a / voxel_size_a
        for i in range(n):
            img = multislice_view(rows, float(series.true_deg[i]), nz, nx, voxel_size_a, optics,
                                  slice_vox=slice_vox, material=material, struct_sigma=struct_sigma, rng=rng,
                                  device=dev)[None]
            clean[i] = _finish(img, attenuation[[i]], acq.tilt_axis_deg, mtf, shifts[[i]])[0]
            bar.update(1)
    bar.close()
    return clean


def _damage(clean: np.ndarray, series: TiltSeries, voxel_size_a: float, det: DetectorParams, dose_set: float,
            shrec_filter: torch.Tensor | None, dev: torch.device) -> tuple[np.ndarray, TiltSeries, float]:
    """Beam damage for the dose the data correspond to: ``(damaged views, series with that dose, dose)``.

    dose and none modes: the set dose. snr and shrec2020 modes: the equivalent dose of their SNR
    (:func:`damage_dose_e_per_a2`), so the recorded dose, the damage and the noise agree.
    """
    n, ny, nx = clean.shape
    k, _ = ctfm.frequency_grid((ny, nx), voxel_size_a, device=dev)
    spec = torch.fft.rfft2(torch.from_numpy(clean).to(dev))
    share = series.order / n  # equal dose per view: the share received before each view
    if det.noise_mode in ("snr", "shrec2020"):
        signal = spec if shrec_filter is None else spec * fourier_disk((ny, nx), dev)
        target = det.snr if shrec_filter is None else shrec2020_expected_snr(det.snr, shrec_filter, (ny, nx))
        dose, reached = damage_dose_e_per_a2(signal, nx, k, det.damage_model, order_fraction=share,
                                             target_snr=target, pixel_a=voxel_size_a,
                                             q=detected_fraction(det.detector, det.dqe_zero),
                                             b_per_e_a2=det.damage_b_per_e_a2)
        if not reached:
            warnings.warn(f"no dose reaches SNR {target:.3g} under {det.damage_model} damage (the sample has too "
                          f"little low-frequency contrast); damage applied for {dose:.3g} e/Å², the dose of the "
                          "highest SNR (acquisition.json records it as dose_total_e_per_a2, next to the "
                          "equivalent dose of the measured SNR)", stacklevel=3)
    else:
        dose = dose_set
    if not math.isfinite(dose) or dose <= 0:
        raise InputError("the noise-free views have no contrast (empty grandmodel?); cannot relate the SNR to a dose")
    filt = damage_filters(k, det.damage_model, share * dose, np.full(n, dose / n), det.damage_b_per_e_a2)
    damaged = torch.fft.irfft2(spec * filt, s=(ny, nx)).float().cpu().numpy()
    scale = dose / dose_set
    series = replace(series, dose_e_per_a2=series.dose_e_per_a2 * scale,
                                 accumulated_dose_e_per_a2=series.accumulated_dose_e_per_a2 * scale)
    return damaged, series, float(dose)


def _acquisition_record(params: ImagingParams, series: TiltSeries, det_yx: tuple[int, int], voxel_size_a: float,
                        rec_shape: tuple[int, int, int], nz: int, noise: dict) -> AcquisitionRecord:
    """The acquisition.json content: the optics, geometry and what the noise really is (docs/microscope.md)."""
    acq, opt, prj, det, rec = (params.acquisition, params.optics, params.projection, params.detector,
                               params.reconstruction)
    mode = det.noise_mode
    return AcquisitionRecord(
        voltage_kv=opt.voltage_kv, cs_mm=opt.cs_mm, amplitude_contrast=opt.amplitude_contrast,
        defocus_um=opt.defocus_um, astigmatism_um=opt.astigmatism_um,
        astigmatism_angle_deg=opt.astigmatism_angle_deg, ctf_decay_nyquist=opt.ctf_decay_nyquist,
        tilt_angles_deg=[float(a) for a in series.nominal_deg], tilt_axis_deg=float(acq.tilt_axis_deg),
        reconstruction_tilt_axis_deg=0.0, projection_shape_yx=list(det_yx),
        tilt_scheme=acq.scheme, voxel_size_a=float(voxel_size_a),
        noise_mode=mode,
        snr_definition=SNR_DEFINITION,
        snr=_finite(noise["snr_measured"]), snr_measured=_finite(noise["snr_measured"]),
        snr_measured_per_view=[_finite(v) for v in noise["per_view"]],
        snr_nominal=det.snr if mode in ("snr", "shrec2020") else None,
        dose_total_e_per_a2=noise["dose_total"],
        equivalent_dose_total_e_per_a2=_finite(noise["equivalent_dose"]) if mode != "none" else None,
        damage_model=det.damage_model, structural_noise_rel=det.structural_noise_rel,
        phase_plate=opt.phase_plate, phase_shift_deg=opt.phase_shift_deg if opt.phase_plate else 0.0,
        projection_mode=prj.mode, detector=det.detector, reconstruction_method=rec.method,
        reconstruction_contrast=rec.contrast,
        ctf_correction=rec.ctf_correction, reconstruction_shape_zyx=list(rec_shape),
        reconstruction_z_offset_vox=rec_shape[0] // 2 - nz // 2,
        projection_units="electrons per pixel" if mode == "dose" else "relative intensity",
    )


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
    """Write the imaging outputs of one tomogram into ``out_dir`` (created).

    The files: projections.mrc (+ .tlt, .rawtlt), tilt_angles.txt, misalignment.txt,
    reconstruction.mrc, acquisition.json, imaging.png (and noise_free_reconstruction.mrc
    when present).

    Parameters
    ----------
    result : ImagingResult
        The output of :func:`image_sample`.
    out_dir : str or Path
        The tomogram's folder.
    """
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
    result.acquisition.write(out / ACQUISITION_JSON)
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
