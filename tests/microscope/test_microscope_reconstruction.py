"""Reconstruction: WBP of a full series recovers the phantom; ±60° leaves the missing wedge."""

import numpy as np
import pytest
from microscope_testlib import gaussian_blob

from generator.microscope.geometry import tilt_angles
from generator.microscope.projector import project
from generator.reconstruction.wbp import ramp_filter, sirt, wbp


def _blobs(shape, n, rng, sigma=2.0):
    nz, ny, nx = shape
    vol = np.zeros(shape, np.float32)
    m = [min(6, d // 2 - 1) for d in shape]
    for c in rng.uniform(m, [nz - m[0], ny - m[1], nx - m[2]], (n, 3)):
        vol += gaussian_blob(shape, c, 2 * sigma**2)
    return vol


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_ramp_filter_is_abs_k_without_dc_offset():
    f = ramp_filter(64, "none").numpy()
    k = np.fft.rfftfreq(128)
    assert f[0] == pytest.approx(0.0, abs=2e-3)
    assert np.allclose(f[8:60], k[8:60], atol=3e-3)  # |k| in cycles/pixel away from DC


def test_noise_free_wbp_of_full_series_correlates_with_phantom():
    rng = np.random.default_rng(3)
    vol = _blobs((32, 16, 48), 12, rng)
    angles = tilt_angles(-90, 90, 2.0)
    proj = project(vol, angles)
    rec = wbp(proj, angles, 32, apodization="none").numpy()
    assert _corr(rec, vol) > 0.99  # measured 0.9992
    # units: WBP inverts the projector, the peak heights come back
    assert rec.max() == pytest.approx(vol.max(), rel=0.25)


def test_sirt_recovers_the_phantom():
    rng = np.random.default_rng(5)
    vol = _blobs((24, 8, 32), 6, rng)
    angles = tilt_angles(-90, 90, 6.0)
    rec = sirt(project(vol, angles), angles, 24, iterations=15).numpy()
    assert _corr(rec, vol) > 0.9


def _wedge_ratio(volume, half_angle_deg):
    """Mean power inside the missing wedge (beam-direction cone around kz) over the mean power outside it."""
    f = np.abs(np.fft.fftn(volume)) ** 2
    nz, ny, nx = volume.shape
    kz = np.fft.fftfreq(nz)[:, None, None]
    kx = np.fft.fftfreq(nx)[None, None, :]
    kzb, kxb = np.broadcast_arrays(kz, kx)
    kzb = np.broadcast_to(kzb, f.shape)
    kxb = np.broadcast_to(kxb, f.shape)
    r = np.hypot(kzb, kxb)
    ring = (r > 0.08) & (r < 0.4)
    wedge = ring & (np.abs(kzb) > np.tan(np.deg2rad(half_angle_deg)) * np.abs(kxb) + 0.02)
    measured = ring & (np.abs(kzb) < np.tan(np.deg2rad(half_angle_deg - 10)) * np.abs(kxb))
    return f[wedge].mean() / f[measured].mean()


def test_limited_tilt_range_leaves_a_missing_wedge_in_fourier_space():
    rng = np.random.default_rng(7)
    vol = rng.standard_normal((48, 8, 48)).astype(np.float32)  # white spectrum: wedge ratio 1 in the phantom
    assert _wedge_ratio(vol, 60) == pytest.approx(1.0, rel=0.2)
    full = tilt_angles(-90, 90, 2.0)
    limited = tilt_angles(-60, 60, 2.0)
    rec_full = wbp(project(vol, full), full, 48, apodization="none").numpy()
    rec_lim = wbp(project(vol, limited), limited, 48, apodization="none").numpy()
    assert _wedge_ratio(rec_full, 60) > 0.5  # control: a full series fills the wedge
    assert _wedge_ratio(rec_lim, 60) < 0.05


def test_reconstruction_thickness_keeps_the_centre():
    rng = np.random.default_rng(9)
    vol = _blobs((20, 8, 32), 5, rng)
    angles = tilt_angles(-90, 90, 3.0)
    proj = project(vol, angles)
    thin = wbp(proj, angles, 20, apodization="none").numpy()
    thick = wbp(proj, angles, 40, apodization="none").numpy()
    offset = 40 // 2 - 20 // 2
    assert np.allclose(thick[offset:offset + 20], thin, atol=1e-4)
