"""Dose, Poisson statistics, ice attenuation and the target-SNR mode."""

import math

import numpy as np
import pytest
from microscope_testlib import gaussian_blob

from generator.imaging import ImagingParams, image_sample
from generator.microscope.detector import add_noise, ice_attenuation


def _phantom(shape=(16, 48, 48), seed=0):
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    vol = np.zeros(shape, np.float32)
    for c in rng.uniform([4, 6, 6], [nz - 4, ny - 6, nx - 6], (10, 3)):
        vol += 2.0 * gaussian_blob(shape, c, 8.0)
    return vol


def _params(**det):
    p = ImagingParams(progress=False)
    p.acquisition.tilt_step_deg = 10.0
    for k, v in det.items():
        setattr(p.detector, k, v)
    return p


def test_poisson_counts_have_mean_equal_variance_at_the_set_dose():
    # an empty (uniform) sample: every pixel expects dose/view * pixel area * ice attenuation electrons
    vol = np.zeros((20, 64, 64), np.float32)
    p = _params(noise_mode="dose", detector="ideal", inelastic_mfp_nm=350.0)
    p.acquisition.dose_total_e_per_a2 = 65.0
    r = image_sample(vol, 10.0, p, np.random.default_rng(1))
    n = len(r.tilt_angles_deg)
    for i in (0, n // 2):
        theta = math.radians(r.tilt_angles_deg[i])
        expected = 65.0 / n * 10.0**2 * math.exp(-200.0 / (3500.0 * math.cos(theta)))
        img = r.projections[i].astype(np.float64)
        assert img.mean() == pytest.approx(expected, rel=0.01)
        assert img.var() == pytest.approx(img.mean(), rel=0.08)


def test_counting_detector_reduces_the_snr_by_its_dqe():
    clean = np.ones((4, 128, 128), np.float32)
    dose = np.full(4, 50.0)
    ideal, ideal_nf, _ = add_noise(clean, mode="dose", snr=1, dose_per_pixel=dose,
                                   detector="ideal", dqe_zero=1.0, rng=np.random.default_rng(0))
    noisy, nf, _ = add_noise(clean, mode="dose", snr=1, dose_per_pixel=dose,
                             detector="counting", dqe_zero=0.5, rng=np.random.default_rng(0))
    # noise variance N / DQE(0) for a flat image: the ideal detector's N, the counting one's twice that
    assert (ideal - ideal_nf).var() == pytest.approx(50.0, rel=0.05)
    assert (noisy - nf).var() == pytest.approx(50.0 / 0.5, rel=0.05)
    assert (noisy - nf).var() / (ideal - ideal_nf).var() == pytest.approx(1 / 0.5, rel=0.05)
    assert noisy.mean() == pytest.approx(50.0, rel=0.01)


@pytest.mark.parametrize("target", [0.004, 0.1, 2.0])
def test_snr_mode_hits_the_target_snr(target):
    vol = _phantom()
    # damage off: it is applied for each mode's own dose (the equivalent dose in snr mode), and this
    # test compares with an independent noise-free run
    clean = image_sample(vol, 10.0, _params(noise_mode="none", damage_model="none"),
                         np.random.default_rng(2)).projections
    noisy = image_sample(vol, 10.0, _params(noise_mode="snr", snr=target, damage_model="none"),
                         np.random.default_rng(2))
    signal = clean.reshape(len(clean), -1).var(axis=1).mean()
    noise = (noisy.projections - clean).reshape(len(clean), -1).var(axis=1).mean()
    assert signal / noise == pytest.approx(target, rel=0.2)
    assert noisy.acquisition.snr_measured == pytest.approx(target, rel=0.2)


def test_ice_attenuation_grows_with_one_over_cos():
    att = ice_attenuation(np.array([0.0, 60.0]), 2000.0, 350.0)
    assert att[0] == pytest.approx(math.exp(-2000 / 3500))
    assert att[1] == pytest.approx(math.exp(-2 * 2000 / 3500))
    assert np.all(ice_attenuation(np.array([0.0, 60.0]), 2000.0, 0.0) == 1.0)


def test_fourier_shift_moves_content_by_the_shift():
    import torch

    from generator.microscope.detector import fourier_shift
    img = torch.zeros((1, 32, 32))
    img[0, 10, 12] = 1.0
    out = fourier_shift(img, torch.tensor([[3.0, -2.0]]))[0].numpy()  # (shift_x, shift_y)
    assert np.unravel_index(out.argmax(), out.shape) == (8, 15)
    assert out.max() == pytest.approx(1.0, abs=1e-5)


def test_beam_damage_follows_grant_grigorieff_in_the_images():
    # the 0° view recorded first (no prior dose) and last (after six 10° views): the power ratio of
    # the two in a frequency band is the square of Grant & Grigorieff's mean amplitude over the exposure
    vol = _phantom((16, 64, 64))
    p = _params(noise_mode="none", detector="ideal", inelastic_mfp_nm=0.0)
    p.acquisition.scheme = "sequential"
    p.acquisition.tilt_min_deg, p.acquisition.tilt_max_deg, p.acquisition.tilt_step_deg = 0.0, 0.0, 1.0
    p.acquisition.dose_total_e_per_a2 = 10.0  # one view: 10 e/Å² from 0
    first = image_sample(vol, 10.0, p, np.random.default_rng(0)).projections[0]
    p.acquisition.tilt_min_deg, p.acquisition.tilt_max_deg = -60.0, 0.0  # 0° is now recorded last
    p.acquisition.tilt_step_deg = 10.0
    p.acquisition.dose_total_e_per_a2 = 70.0  # 10 e/Å² per view, 60 before the 0° view
    r = image_sample(vol, 10.0, p, np.random.default_rng(0))
    last = r.projections[-1]
    assert r.misalignment[-1, 4] == pytest.approx(60.0)

    def band(img, lo, hi):
        f = np.abs(np.fft.rfft2(img - img.mean())) ** 2
        k = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.rfftfreq(64), indexing="ij")) / 10.0
        return f[(k > lo) & (k < hi)].sum()

    def mean_amplitude(k, n0, dn):  # G&G 2015: N_e = 0.245 k^-1.665 + 2.81, amplitude exp(-N / 2 N_e)
        ne = 0.245 * k ** -1.665 + 2.81
        return 2 * ne / dn * (np.exp(-n0 / (2 * ne)) - np.exp(-(n0 + dn) / (2 * ne)))

    for lo, hi in ((0.010, 0.012), (0.030, 0.033)):
        k = 0.5 * (lo + hi)
        expected = (mean_amplitude(k, 60.0, 10.0) / mean_amplitude(k, 0.0, 10.0)) ** 2
        assert band(last, lo, hi) / band(first, lo, hi) == pytest.approx(expected, rel=0.05)
