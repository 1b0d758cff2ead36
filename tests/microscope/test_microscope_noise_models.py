"""The three noise models (dose, snr, shrec2020), the equivalent dose, damage and the metadata."""

import math

import numpy as np
import pytest
import torch
from microscope_testlib import gaussian_blob

from generator.imaging import ImagingParams, image_sample
from generator.microscope.damage import critical_exposure_e_per_a2, gg_amplitude
from generator.microscope.detector import (
    apply_filter,
    fourier_disk,
    measured_snr,
    shrec2020_expected_snr,
    shrec2020_noise,
    shrec_corrfac,
    shrec_noise_filter,
)
from generator.microscope.params import OpticsParams


def _phantom(shape=(24, 64, 64), seed=0, n=14, amplitude=4.0, denom=12.0):
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    vol = np.zeros(shape, np.float32)
    for c in rng.uniform([6, 8, 8], [nz - 6, ny - 8, nx - 8], (n, 3)):
        vol += amplitude * gaussian_blob(shape, c, denom)
    return vol


def _params(step=10.0, **det):
    p = ImagingParams(progress=False)
    p.acquisition.tilt_step_deg = step
    for k, v in det.items():
        setattr(p.detector, k, v)
    return p


def test_grant_grigorieff_critical_exposure_at_two_resolutions_and_doses():
    # their fit N_e(k) = 0.245 k^-1.665 + 2.81, evaluated by hand: 20 Å -> 38.75 e/Å², 3 Å -> 4.34 e/Å²
    assert critical_exposure_e_per_a2(np.array([1 / 20]))[0] == pytest.approx(38.75, rel=2e-3)
    assert critical_exposure_e_per_a2(np.array([1 / 3]))[0] == pytest.approx(4.34, rel=2e-3)
    # amplitude exp(-N / 2 N_e): 20 Å after 117 e/Å² -> 0.221 (the B = 2 Å² per e/Å² model kept 0.86);
    # 3 Å after 4.34 e/Å² (one critical exposure) -> exp(-1/2)
    assert gg_amplitude(np.array([1 / 20]), 117.0)[0] == pytest.approx(math.exp(-117 / 77.5), rel=3e-3)
    assert gg_amplitude(np.array([1 / 20]), 117.0)[0] == pytest.approx(0.221, abs=0.003)
    assert gg_amplitude(np.array([1 / 3]), 4.34)[0] == pytest.approx(math.exp(-0.5), rel=3e-3)
    # k = 0 is never damaged; the mean over an exposure lies between its ends
    assert gg_amplitude(np.array([0.0]), 500.0, 10.0)[0] == 1.0
    mid = gg_amplitude(np.array([0.05]), 10.0, 10.0)[0]
    assert gg_amplitude(np.array([0.05]), 20.0)[0] < mid < gg_amplitude(np.array([0.05]), 10.0)[0]


def _shrec_optics():
    return OpticsParams(voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.08, defocus_um=3.0, ctf_decay_nyquist=0.4)


def test_shrec_corrfac_and_closed_form_snr():
    shape = (512, 512)
    filt = shrec_noise_filter(shape, 10.0, _shrec_optics(), 0.4)
    # inside a 10-pixel disk chi ~ 0.007 rad and the decay ~ 0.99: corrfac ~ 1 / A^2 = 156
    assert shrec_corrfac(filt, shape) == pytest.approx(1 / 0.08**2, rel=0.03)
    # closed form by hand: SNR = nominal / (0.5 corrfac <(A cos chi env)^2>); with cos^2 ~ 1/2 beyond the
    # first zero, <env^2> over the disk = 0.08 pi / 4 ... the full sum gives 0.153 (SHREC's 0.004 -> ~0.15)
    assert shrec2020_expected_snr(0.004, filt, shape) == pytest.approx(0.15, abs=0.01)
    # the SNR is linear in the nominal parameter
    assert shrec2020_expected_snr(0.008, filt, shape) == pytest.approx(2 * shrec2020_expected_snr(0.004, filt, shape))


def _smooth_views(n=4, size=256, seed=1):
    white = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, size, size)).astype(np.float32))
    k2 = torch.fft.fftfreq(size)[:, None] ** 2 + torch.fft.rfftfreq(size)[None, :] ** 2
    return (1.0 + 0.05 * apply_filter(white, torch.exp(-k2 / 0.005))).numpy()


def test_shrec_noise_measured_snr_matches_the_closed_form():
    clean = _smooth_views()
    shape = clean.shape[1:]
    filt = shrec_noise_filter(shape, 10.0, _shrec_optics(), 0.4)
    noisy, nf = shrec2020_noise(clean, 0.004, filt, np.random.default_rng(0))
    assert measured_snr(nf, noisy) == pytest.approx(shrec2020_expected_snr(0.004, filt, shape), rel=0.03)
    assert measured_snr(nf, noisy) == pytest.approx(0.15, abs=0.015)


def test_shrec_noise_spectrum_is_the_amplitude_ctf_squared_and_snr_noise_is_white():
    size = 256
    clean = _smooth_views(n=6, size=size)
    filt = shrec_noise_filter((size, size), 10.0, _shrec_optics(), 0.4)
    noisy, nf = shrec2020_noise(clean, 0.004, filt, np.random.default_rng(0))
    power = (np.abs(np.fft.rfft2(noisy - nf)) ** 2).mean(axis=0)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.rfftfreq(size), indexing="ij"))
    expected = (filt * fourier_disk((size, size))).numpy() ** 2
    rings = np.digitize(k, np.linspace(0, 0.5, 41))
    got = np.array([power[rings == r].mean() for r in range(2, 40)])
    want = np.array([expected[rings == r].mean() for r in range(2, 40)])
    # coloured: the measured ring powers follow (A cos chi env)^2 (correlation), up to one constant
    assert np.corrcoef(got, want)[0, 1] > 0.99
    assert got[-5:].mean() < 0.01 * got[:5].mean()  # the Gaussian decay: no noise near Nyquist
    # the snr mode's noise is flat
    vol = _phantom()
    r = image_sample(vol, 10.0, _params(noise_mode="snr", snr=0.1, damage_model="none"), np.random.default_rng(0))
    p2 = (np.abs(np.fft.rfft2(r.projections - r.noise_free_projections)) ** 2).mean(axis=0)
    k64 = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.rfftfreq(64), indexing="ij"))
    assert p2[(k64 > 0.05) & (k64 < 0.15)].mean() == pytest.approx(p2[(k64 > 0.35) & (k64 < 0.45)].mean(), rel=0.1)


@pytest.mark.parametrize("mode", ["snr", "dose"])
def test_per_view_snr_scales_with_the_attenuation(mode):
    # per view SNR_i = a_i * var(delta_i) / K with c_i = a_i (1 + delta_i): with the relative contrast
    # var(delta_i) read from the noise-free views, SNR_i / (a_i var(delta_i)) is the same for every view
    vol = _phantom((30, 64, 64))
    p = _params(step=15.0, noise_mode=mode, snr=0.5, detector="ideal", inelastic_mfp_nm=60.0, damage_model="none")
    p.acquisition.dose_total_e_per_a2 = 400.0
    r = image_sample(vol, 10.0, p, np.random.default_rng(5))
    theta = np.deg2rad(r.tilt_angles_deg)
    a = np.exp(-300.0 / (600.0 * np.cos(theta)))  # 30 voxels of 10 Å, mfp 60 nm: 0.61 at 0°, 0.37 at 60°
    nf = r.noise_free_projections.reshape(len(a), -1).astype(np.float64)
    rel_contrast = nf.var(axis=1) / nf.mean(axis=1) ** 2
    per_view = np.array(r.acquisition.snr_measured_per_view)
    ratio = per_view / (a * rel_contrast)
    assert ratio.std() / ratio.mean() < 0.06
    # the old scaling (noise variance ∝ 1/a_i) would make SNR_i ∝ a_i^3: the ends 2.7x apart here
    assert per_view[0] / per_view[len(a) // 2] == pytest.approx(
        a[0] * rel_contrast[0] / (a[len(a) // 2] * rel_contrast[len(a) // 2]), rel=0.08)


def test_equivalent_dose_round_trip():
    # simulate at dose D, read the SNR S, ask the snr mode for S: its equivalent dose (and the dose its damage
    # is applied for) is D again, and the two runs carry the same damage, hence the same noise-free views
    vol = _phantom(amplitude=20.0, denom=30.0)
    p = _params(noise_mode="dose")
    p.acquisition.dose_total_e_per_a2 = 40.0
    dose_run = image_sample(vol, 10.0, p, np.random.default_rng(0))
    s = dose_run.acquisition.snr_measured
    assert dose_run.acquisition.dose_total_e_per_a2 == 40.0
    assert dose_run.acquisition.equivalent_dose_total_e_per_a2 == pytest.approx(40.0, rel=0.03)
    snr_run = image_sample(vol, 10.0, _params(noise_mode="snr", snr=s), np.random.default_rng(0))
    assert snr_run.acquisition.dose_total_e_per_a2 == pytest.approx(40.0, rel=0.03)
    assert snr_run.acquisition.equivalent_dose_total_e_per_a2 == pytest.approx(40.0, rel=0.03)
    assert snr_run.misalignment[:, 3].sum() == pytest.approx(snr_run.acquisition.dose_total_e_per_a2)
    dose_nf = dose_run.noise_free_projections / (40.0 / len(dose_run.tilt_angles_deg) * 100.0)
    assert np.allclose(snr_run.noise_free_projections, dose_nf, rtol=0, atol=3e-3 * np.ptp(dose_nf))


def test_shrec2020_mode_metadata_agree_with_the_images():
    vol = _phantom(amplitude=20.0, denom=30.0)
    p = _params(noise_mode="shrec2020", snr=0.004, detector="ideal")
    p.optics.ctf_decay_nyquist = 0.4
    r = image_sample(vol, 10.0, p, np.random.default_rng(0))
    acq = r.acquisition
    filt = shrec_noise_filter((64, 64), 10.0, p.optics, 0.4)
    assert acq.snr_nominal == 0.004 and acq.noise_mode == "shrec2020"
    assert acq.snr_measured == pytest.approx(shrec2020_expected_snr(0.004, filt, (64, 64)), rel=0.1)
    assert acq.snr_measured == pytest.approx(measured_snr(r.noise_free_projections, r.projections))
    assert acq.equivalent_dose_total_e_per_a2 == pytest.approx(acq.dose_total_e_per_a2, rel=0.1)
    assert acq.snr == acq.snr_measured


def test_imod_contrast_is_the_negative_of_the_default():
    vol = _phantom((16, 48, 48), n=6)
    bright = image_sample(vol, 10.0, _params(step=5.0, noise_mode="none"), np.random.default_rng(0))
    p = _params(step=5.0, noise_mode="none")
    p.reconstruction.contrast = "protein_dark"
    dark = image_sample(vol, 10.0, p, np.random.default_rng(0))
    assert np.allclose(dark.reconstruction, -bright.reconstruction, atol=1e-6 * np.abs(bright.reconstruction).max())
    assert np.corrcoef(dark.reconstruction.ravel(), vol.ravel())[0, 1] < -0.5
    assert dark.acquisition.reconstruction_contrast == "protein_dark"
    # the raw views (IMOD reads them) show the particles dark at underfocus, like protein_dark
    proj = bright.noise_free_projections[len(bright.tilt_angles_deg) // 2]
    mask = np.asarray(vol.sum(axis=0) > 0.5 * vol.sum(axis=0).max())
    assert proj[mask].mean() < proj[~mask].mean()


def test_no_vacuum_edge_step_at_high_tilt():
    # a laterally uniform ice slab between vacuum layers has no contrast at any tilt (an infinite slab shifts
    # every ray's phase alike): the 60° view must be flat up to its edges
    vol = np.zeros((40, 32, 64), np.float32)
    vol[8:32] = 3.0
    p = _params(noise_mode="none", detector="ideal", damage_model="none", inelastic_mfp_nm=0.0)
    p.acquisition.tilt_min_deg, p.acquisition.tilt_max_deg = 60.0, 60.0
    flat = image_sample(vol, 10.0, p, np.random.default_rng(0)).projections[0]
    # a single particle in the same slab is seen with contrast ~1e-3 (so 1e-6 is "nothing")
    vol2 = vol + 3.0 * gaussian_blob(vol.shape, (20, 16, 32), 8.0)
    seen = image_sample(vol2, 10.0, p, np.random.default_rng(0)).projections[0]
    assert np.ptp(flat) < 1e-5
    assert np.ptp(seen) > 100 * np.ptp(flat)


def test_no_progress_silences_the_imaging_bars(monkeypatch, tmp_path):
    import generator.imaging as imaging
    import generator.scene as scene
    from generator import simulate

    seen = []

    class Scene:
        grandmodel, voxel_size_a = np.zeros((2, 2, 2), np.float32), 10.0

    monkeypatch.setattr(scene, "build_scene", lambda *a: Scene())
    monkeypatch.setattr(scene, "write_ground_truth", lambda *a: None)
    monkeypatch.setattr(imaging, "image_sample", lambda gm, vs, params, rng: seen.append(params.progress))
    monkeypatch.setattr(imaging, "write_imaging", lambda *a: None)
    config = simulate.load_config("default")
    simulate.simulate_many(None, config, [0], tmp_path, progress=False)
    simulate.simulate_many(None, config, [0], tmp_path, progress=True)
    assert seen == [False, True]
