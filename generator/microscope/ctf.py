"""Contrast transfer function of the electron microscope.

Conventions (weak-phase object, Kirkland's sign with defocus > 0 = underfocus)::

    chi(k) = pi * lambda * df * k^2 - pi/2 * Cs * lambda^3 * k^4            (radians)
    CTF(k) = -sin(chi(k) + arcsin(A) + phase_shift) * E(k)

``k`` in 1/Å, ``lambda`` the relativistic wavelength in Å, ``A`` the amplitude
contrast. With a positive potential (protein) and underfocus the image is dark
at low frequency: image contrast ``I - 1 = 2 * F^-1[CTF * FT(phase)]``.
Astigmatism: ``df(alpha) = df + astig/2 * cos(2 (alpha - alpha_astig))``.
Envelopes multiply: B-factor ``exp(-B k^2 / 4)``, spatial coherence
``exp(-(pi alpha_ill / lambda)^2 (Cs lambda^3 k^3 - df lambda k)^2)`` and temporal
coherence ``exp(-(pi lambda delta k^2)^2 / 2)`` with the focal spread
``delta = Cc * dE / E``; PyTom's (SHREC 2020's) Gaussian decay
``exp(-(k / (s k_Nyquist))^2)`` with ``s = ctf_decay_nyquist`` (0 = none).
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
import torch

from tomobench.errors import InputError

# CODATA constants (SI)
_H = 6.62607015e-34
_E = 1.602176634e-19
_M0 = 9.1093837015e-31
_C = 299792458.0


def wavelength_a(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å for an acceleration voltage in kV (300 kV -> 0.019687 Å)."""
    v = voltage_kv * 1e3
    return _H / math.sqrt(2 * _M0 * _E * v * (1 + _E * v / (2 * _M0 * _C**2))) * 1e10


def interaction_constant(voltage_kv: float) -> float:
    """Interaction constant sigma in rad / (V Å): phase = sigma * projected potential (V Å)."""
    v = voltage_kv * 1e3
    e0 = _M0 * _C**2 / _E  # rest energy in eV
    return 2 * math.pi / (wavelength_a(voltage_kv) * v) * (e0 + v) / (2 * e0 + v)


def frequency_grid(shape_yx: tuple[int, int], pixel_a: float, *, rfft: bool = True,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial frequencies ``(k [1/Å], azimuth [rad])`` on the (r)FFT grid of an image ``[y, x]`` (cached; do not modify)."""
    return _frequency_grid(tuple(int(v) for v in shape_yx), float(pixel_a), bool(rfft), str(device))


@functools.lru_cache(maxsize=8)
def _frequency_grid(shape_yx, pixel_a, rfft, device):
    ny, nx = shape_yx
    ky = torch.fft.fftfreq(ny, d=pixel_a, dtype=torch.float64, device=device)
    kx = (torch.fft.rfftfreq if rfft else torch.fft.fftfreq)(nx, d=pixel_a, dtype=torch.float64, device=device)
    KY, KX = torch.meshgrid(ky, kx, indexing="ij")
    return torch.sqrt(KX**2 + KY**2), torch.atan2(KY, KX)


def chi(k: torch.Tensor, defocus_a, wavelength: float, cs_a: float) -> torch.Tensor:
    """Aberration phase chi(k) in radians; ``defocus_a`` (> 0 underfocus) may be a tensor broadcasting with k.

    ``k`` may also be a numpy array (then the result is one).
    """
    return math.pi * wavelength * defocus_a * k**2 - 0.5 * math.pi * cs_a * wavelength**3 * k**4


def astigmatic_defocus(defocus_a, azimuth: torch.Tensor, optics):
    """Defocus (Å) along each azimuth (rad): ``df + astig/2 * cos(2 (alpha - alpha_astig))``; ``df`` without astigmatism."""
    if optics.astigmatism_um > 0:
        return defocus_a + 0.5 * optics.astigmatism_um * 1e4 * torch.cos(
            2 * (azimuth - math.radians(optics.astigmatism_angle_deg)))
    return defocus_a


def envelope(k: torch.Tensor, optics, wavelength: float, defocus_a: float = 0.0,
             extra_b_a2=0.0, pixel_a: float | None = None) -> torch.Tensor:
    """Product of the B-factor, spatial- and temporal-coherence envelopes and, given ``pixel_a``,
    PyTom's Gaussian decay ``exp(-(k / (s k_Nyq))^2)`` (``s = optics.ctf_decay_nyquist``; see module doc)."""
    b = optics.b_factor_a2 + extra_b_a2
    env = torch.exp(-(b / 4.0) * k**2)
    decay = optics.ctf_decay_nyquist
    if decay > 0 and pixel_a is not None:
        env = env * torch.exp(-(k * 2.0 * pixel_a / decay) ** 2)
    if optics.illumination_aperture_mrad > 0:
        a = optics.illumination_aperture_mrad * 1e-3
        cs_a = optics.cs_mm * 1e7
        env = env * torch.exp(-(math.pi * a / wavelength) ** 2
                              * (cs_a * wavelength**3 * k**3 - defocus_a * wavelength * k) ** 2)
    if optics.energy_spread_ev > 0 and optics.cc_mm > 0:
        delta = optics.cc_mm * 1e7 * optics.energy_spread_ev / (optics.voltage_kv * 1e3)
        env = env * torch.exp(-0.5 * (math.pi * wavelength * delta * k**2) ** 2)
    return env


def ctf_2d(shape_yx: tuple[int, int], pixel_a: float, optics, defocus_a=None, *,
           extra_b_a2: float = 0.0, device: torch.device | str = "cpu",
           with_envelope: bool = True) -> torch.Tensor:
    """The CTF on the rFFT grid of an image ``[y, x]`` (float64).

    ``defocus_a`` overrides the nominal ``optics.defocus_um`` (a float, or a tensor
    ``[n, 1, 1]`` for a stack of defocus values: returns ``[n, ny, nx//2+1]``).
    """
    k, az = frequency_grid(shape_yx, pixel_a, device=device)
    lam = wavelength_a(optics.voltage_kv)
    df = astigmatic_defocus(optics.defocus_um * 1e4 if defocus_a is None else defocus_a, az, optics)
    x = chi(k, df, lam, optics.cs_mm * 1e7) + math.asin(optics.amplitude_contrast)
    if optics.phase_plate:
        x = x + math.radians(optics.phase_shift_deg)
    ctf = -torch.sin(x)
    if with_envelope:
        mean_df = float(df.mean()) if isinstance(df, torch.Tensor) else float(df)
        ctf = ctf * envelope(k, optics, lam, mean_df, extra_b_a2, pixel_a)
    return ctf


def ctf_zeros_1d(n_zeros: int, defocus_a: float, voltage_kv: float, cs_mm: float,
                 amplitude_contrast: float = 0.0) -> np.ndarray:
    """Frequencies (1/Å) of the first ``n_zeros`` zeros of the (astigmatism-free) CTF.

    Solves ``chi(k) + arcsin(A) = n pi`` (n = 1, 2, ...) for ``k`` numerically on a fine grid.
    """
    k = np.linspace(0, 1.0, 2_000_001)
    x = chi(k, defocus_a, wavelength_a(voltage_kv), cs_mm * 1e7) + math.asin(amplitude_contrast)
    s = np.sin(x)
    idx = np.nonzero(np.sign(s[1:]) != np.sign(s[:-1]))[0]
    idx = idx[k[idx] > 0][:n_zeros]
    return k[idx] + (k[1] - k[0]) * np.abs(s[idx]) / (np.abs(s[idx]) + np.abs(s[idx + 1]))


def check_sampling(pixel_a: float, box_px: int, optics, max_defocus_a: float) -> None:
    """Stop early when the CTF cannot be represented on the image grid, warn when it is marginal.

    The CTF's phase must change by less than pi between neighbouring Fourier
    samples up to Nyquist (``lambda * df * k_nyq / (N * pixel) < 1/2``, i.e. the
    point-spread function of the defocus is narrower than half the image), else
    the simulated image aliases. Also warns when the pixel is too coarse to show
    any CTF oscillation (first zero beyond Nyquist).
    """
    lam = wavelength_a(optics.voltage_kv)
    k_nyq = 0.5 / pixel_a
    df = abs(max_defocus_a) + 0.5 * optics.astigmatism_um * 1e4
    slope = abs(2 * math.pi * lam * df * k_nyq - 2 * math.pi * optics.cs_mm * 1e7 * lam**3 * k_nyq**3)
    step = slope / (box_px * pixel_a)  # phase change between neighbouring Fourier samples at Nyquist
    if step > math.pi:
        raise InputError(
            f"the CTF aliases: at defocus {df / 1e4:.2f} µm and pixel {pixel_a} Å its phase changes by "
            f"{step:.2f} rad between Fourier samples at Nyquist (limit pi); lower the defocus, use a larger "
            f"image (box {box_px} px) or a coarser voxel size")
    if step > math.pi / 2:
        warnings.warn(f"the CTF is barely sampled (phase step {step:.2f} rad at Nyquist); expect aliasing",
                      stacklevel=2)
    zeros = ctf_zeros_1d(1, abs(optics.defocus_um) * 1e4 or 1.0, optics.voltage_kv, optics.cs_mm,
                         optics.amplitude_contrast)
    if not optics.phase_plate and len(zeros) and zeros[0] > k_nyq:
        warnings.warn(f"voxel size {pixel_a} Å is too coarse to sample the CTF: its first zero "
                      f"({1 / zeros[0]:.1f} Å) lies beyond Nyquist ({2 * pixel_a:.1f} Å); the images show "
                      "almost no phase contrast; use a smaller voxel size or a larger defocus", stacklevel=2)
