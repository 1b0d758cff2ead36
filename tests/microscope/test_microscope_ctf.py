"""CTF physics against hand-computed values."""

import math

import numpy as np
import pytest

from generator.microscope import ctf as ctfm
from generator.microscope.params import OpticsParams


def test_wavelength_and_interaction_constant_match_tabulated_values():
    # tabulated relativistic wavelengths (e.g. Williams & Carter): 0.01969 Å at 300 kV, 0.02508 Å at 200 kV
    assert ctfm.wavelength_a(300) == pytest.approx(0.019687, abs=2e-6)
    assert ctfm.wavelength_a(200) == pytest.approx(0.025079, abs=2e-6)
    # sigma = 2 pi m e lambda / h^2 = 6.53e-4 rad/(V Å) at 300 kV (Kirkland)
    assert ctfm.interaction_constant(300) == pytest.approx(6.526e-4, rel=2e-3)


def _zeros_closed_form(n_max, df, lam, cs, amp):
    """Roots of pi lam df k^2 - pi/2 cs lam^3 k^4 + asin(A) = n pi, smaller root of the quadratic in k^2."""
    out = []
    for n in range(1, n_max + 1):
        c = n - math.asin(amp) / math.pi
        if cs == 0:
            out.append(math.sqrt(c / (lam * df)))
        else:
            disc = (lam * df) ** 2 - 2 * cs * lam**3 * c
            out.append(math.sqrt((lam * df - math.sqrt(disc)) / (cs * lam**3)))
    return np.array(out)


@pytest.mark.parametrize("voltage,df_um,cs_mm,amp", [(300, 3.0, 0.0, 0.0), (300, 3.0, 2.7, 0.08), (200, 1.5, 2.0, 0.1)])
def test_ctf_zeros_at_predicted_frequencies(voltage, df_um, cs_mm, amp):
    lam = ctfm.wavelength_a(voltage)
    expected = _zeros_closed_form(4, df_um * 1e4, lam, cs_mm * 1e7, amp)
    assert np.allclose(ctfm.ctf_zeros_1d(4, df_um * 1e4, voltage, cs_mm, amp), expected, rtol=1e-4)
    # the 2D CTF changes sign along kx within one frequency sample of each predicted zero
    pixel, n = 2.0, 2048
    optics = OpticsParams(voltage_kv=voltage, defocus_um=df_um, cs_mm=cs_mm, amplitude_contrast=amp)
    row = ctfm.ctf_2d((n, n), pixel, optics).numpy()[0]
    k = np.fft.rfftfreq(n, d=pixel)
    crossings = k[np.nonzero(np.sign(row[1:]) != np.sign(row[:-1]))[0]]
    dk = 1.0 / (n * pixel)
    for z in expected:
        assert np.min(np.abs(crossings - z)) <= 1.01 * dk
    # first zero for 3 µm at 300 kV without Cs: 1/sqrt(lambda df) = sqrt(0.019687 * 30000) = 24.30 Å
    if cs_mm == 0 and amp == 0:
        assert 1 / expected[0] == pytest.approx(24.30, abs=0.01)


def test_ctf_sign_amplitude_contrast_phase_plate_and_envelope():
    optics = OpticsParams(amplitude_contrast=0.08)
    c = ctfm.ctf_2d((64, 64), 10.0, optics).numpy()
    assert c[0, 0] == pytest.approx(-0.08, abs=1e-9)  # underfocus, positive potential -> dark
    pp = ctfm.ctf_2d((64, 64), 10.0, OpticsParams(amplitude_contrast=0.0, phase_plate=True, phase_shift_deg=90)).numpy()
    assert pp[0, 0] == pytest.approx(-1.0)
    b = ctfm.ctf_2d((64, 64), 10.0, OpticsParams(b_factor_a2=400.0)).numpy()
    k = 0.5 / 10.0  # Nyquist along kx, last rfft column of row 0
    assert b[0, -1] / c[0, -1] == pytest.approx(math.exp(-400 * k**2 / 4), rel=1e-6)


def test_astigmatism_moves_zeros_with_direction():
    optics = OpticsParams(defocus_um=2.0, astigmatism_um=0.5, astigmatism_angle_deg=0.0, cs_mm=0.0,
                          amplitude_contrast=0.0)
    n, pixel = 1024, 2.0
    c = ctfm.ctf_2d((n, n), pixel, optics).numpy()
    k = np.fft.rfftfreq(n, d=pixel)
    lam = ctfm.wavelength_a(300)
    for row, df in ((c[0], 2.25e4), (c[:n // 2, 0], 1.75e4)):  # along x: df + astig/2; along y: df - astig/2
        first = k[1 + np.nonzero(np.sign(row[2:]) != np.sign(row[1:-1]))[0][0]]
        assert first == pytest.approx(math.sqrt(1 / (lam * df)), abs=1.01 / (n * pixel))


@pytest.mark.parametrize("angle_deg, along_plus", [(45.0, "+45"), (-45.0, "-45"), (135.0, "-45")])
def test_astigmatism_angle_turns_the_long_axis(angle_deg, along_plus):
    # the diagonals of a square grid are exact azimuths (+45° and -45°, i.e. 135°, on the rFFT half plane);
    # the first zero along the astigmatism angle sits at df + astig/2, across it at df - astig/2
    optics = OpticsParams(defocus_um=2.0, astigmatism_um=0.5, astigmatism_angle_deg=angle_deg, cs_mm=0.0,
                          amplitude_contrast=0.0)
    n, pixel = 1024, 2.0
    c = ctfm.ctf_2d((n, n), pixel, optics, with_envelope=False).numpy()
    i = np.arange(1, n // 2)
    diagonals = {"+45": c[i, i], "-45": c[n - i, i]}             # (ky, kx) = (+k, +k) and (-k, +k)
    k_diag = np.sqrt(2) * i / (n * pixel)
    lam = ctfm.wavelength_a(300)
    for name, profile in diagonals.items():
        df = 2.25e4 if name == along_plus else 1.75e4
        first = k_diag[1 + np.nonzero(np.sign(profile[1:]) != np.sign(profile[:-1]))[0][0]]
        assert first == pytest.approx(math.sqrt(1 / (lam * df)), abs=1.5 / (n * pixel)), name
