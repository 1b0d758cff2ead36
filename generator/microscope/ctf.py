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
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from tomobench.errors import InputError

if TYPE_CHECKING:
    from generator.microscope.params import OpticsParams

#: an array of either library: :func:`chi` returns the kind it is given
ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)

# CODATA constants (SI)
_H = 6.62607015e-34
_E = 1.602176634e-19
_M0 = 9.1093837015e-31
_C = 299792458.0


def wavelength_a(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å for an acceleration voltage in kV (300 kV -> 0.019687 Å).

    Parameters
    ----------
    voltage_kv : float
        Acceleration voltage in kV, > 0.

    Returns
    -------
    float
        The wavelength ``lambda`` in Å.
    """
    v = voltage_kv * 1e3
    return _H / math.sqrt(2 * _M0 * _E * v * (1 + _E * v / (2 * _M0 * _C**2))) * 1e10


def interaction_constant(voltage_kv: float) -> float:
    """Interaction constant sigma in rad / (V Å): phase = sigma * projected potential (V Å).

    Parameters
    ----------
    voltage_kv : float
        Acceleration voltage in kV, > 0.

    Returns
    -------
    float
        ``sigma`` in rad / (V Å) (300 kV: about 6.5e-4).
    """
    v = voltage_kv * 1e3
    e0 = _M0 * _C**2 / _E  # rest energy in eV
    return 2 * math.pi / (wavelength_a(voltage_kv) * v) * (e0 + v) / (2 * e0 + v)


def frequency_grid(shape_yx: tuple[int, int], pixel_a: float, *, rfft: bool = True,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Spatial frequencies ``(k [1/Å], azimuth [rad])`` on the (r)FFT grid of an image ``[y, x]``.

    The grids are cached (shared between calls): do not modify them in place.

    Parameters
    ----------
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    pixel_a : float
        Pixel size in Å.
    rfft : bool
        The half grid of ``torch.fft.rfft2`` (``nx // 2 + 1`` columns) instead of the full one.
    device : torch.device or str
        Where the grids live.

    Returns
    -------
    k : torch.Tensor
        (ny, nx // 2 + 1), or (ny, nx) without ``rfft``: the frequency modulus in 1/Å (float64).
    azimuth : torch.Tensor
        Same shape: the angle of the frequency from the x axis in rad, in ``[-pi, pi]``.
    """
    return _frequency_grid(tuple(int(v) for v in shape_yx), float(pixel_a), bool(rfft), str(device))


@functools.lru_cache(maxsize=8)
def _frequency_grid(shape_yx, pixel_a, rfft, device):
    ny, nx = shape_yx
    ky = torch.fft.fftfreq(ny, d=pixel_a, dtype=torch.float64, device=device)
    kx = (torch.fft.rfftfreq if rfft else torch.fft.fftfreq)(nx, d=pixel_a, dtype=torch.float64, device=device)
    KY, KX = torch.meshgrid(ky, kx, indexing="ij")
    return torch.sqrt(KX**2 + KY**2), torch.atan2(KY, KX)


def chi(k: ArrayT, defocus_a, wavelength: float, cs_a: float) -> ArrayT:
    """Aberration phase ``chi(k) = pi lambda df k^2 - pi/2 Cs lambda^3 k^4`` in radians.

    Parameters
    ----------
    k : torch.Tensor or numpy.ndarray
        Spatial frequencies in 1/Å, any shape.
    defocus_a : float, torch.Tensor or numpy.ndarray
        Defocus in Å, > 0 underfocus: a number, or an array broadcasting with ``k``
        (e.g. ``[n, 1, 1]`` per view, or ``k``'s shape for astigmatism).
    wavelength : float
        Electron wavelength ``lambda`` in Å (:func:`wavelength_a`).
    cs_a : float
        Spherical aberration in Å (``cs_mm * 1e7``).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``chi`` in rad, of the kind of ``k`` and the broadcast shape of ``k`` and ``defocus_a``.
    """
    return math.pi * wavelength * defocus_a * k**2 - 0.5 * math.pi * cs_a * wavelength**3 * k**4


def astigmatic_defocus(defocus_a, azimuth: torch.Tensor, optics: OpticsParams):
    """Defocus along each azimuth: ``df + astig/2 * cos(2 (alpha - alpha_astig))``.

    Parameters
    ----------
    defocus_a : float or torch.Tensor
        Defocus ``df`` in Å (> 0 underfocus): a number or a tensor broadcasting with ``azimuth``
        (e.g. ``[n, 1, 1]`` per view).
    azimuth : torch.Tensor
        Angle ``alpha`` of each frequency from the x axis in rad (:func:`frequency_grid`), e.g. ``[ny, nx//2+1]``.
    optics : OpticsParams
        Gives the astigmatism ``astigmatism_um`` (µm) and its angle ``astigmatism_angle_deg`` (degrees).

    Returns
    -------
    float or torch.Tensor
        The defocus in Å along each azimuth, shape of ``defocus_a`` broadcast with ``azimuth``;
        ``defocus_a`` itself (same object) without astigmatism.
    """
    if optics.astigmatism_um > 0:
        return defocus_a + 0.5 * optics.astigmatism_a * torch.cos(
            2 * (azimuth - math.radians(optics.astigmatism_angle_deg)))
    return defocus_a


def envelope(k: torch.Tensor, optics: OpticsParams, wavelength: float, defocus_a: float = 0.0,
             extra_b_a2=0.0, pixel_a: float | None = None) -> torch.Tensor:
    """Product of the CTF envelopes (the formulas in the module doc).

    The B-factor, spatial- and temporal-coherence envelopes and, given ``pixel_a``,
    PyTom's Gaussian decay ``exp(-(k / (s k_Nyq))^2)`` (``s = optics.ctf_decay_nyquist``).

    Parameters
    ----------
    k : torch.Tensor
        Spatial frequencies in 1/Å, any shape (float64 from :func:`frequency_grid`).
    optics : OpticsParams
        Gives the B-factor (Å²), the decay, the illumination aperture (mrad), Cs and Cc (mm),
        the energy spread (eV) and the voltage (kV).
    wavelength : float
        Electron wavelength in Å (:func:`wavelength_a`).
    defocus_a : float
        Defocus in Å of the spatial-coherence envelope (> 0 underfocus).
    extra_b_a2 : float or torch.Tensor
        B-factor in Å² added to ``optics.b_factor_a2`` (a tensor broadcasting with ``k`` for one per view).
    pixel_a : float or None
        Pixel size in Å, which sets Nyquist for the decay; None = no decay.

    Returns
    -------
    torch.Tensor
        The envelope, in ``[0, 1]``, of the broadcast shape of ``k`` and ``extra_b_a2``.
    """
    b = optics.b_factor_a2 + extra_b_a2
    env = torch.exp(-(b / 4.0) * k**2)
    decay = optics.ctf_decay_nyquist
    if decay > 0 and pixel_a is not None:
        env = env * torch.exp(-(k * 2.0 * pixel_a / decay) ** 2)
    if optics.illumination_aperture_mrad > 0:
        a = optics.illumination_aperture_mrad * 1e-3
        cs_a = optics.cs_a
        env = env * torch.exp(-(math.pi * a / wavelength) ** 2
                              * (cs_a * wavelength**3 * k**3 - defocus_a * wavelength * k) ** 2)
    if optics.energy_spread_ev > 0 and optics.cc_mm > 0:
        delta = optics.cc_a * optics.energy_spread_ev / (optics.voltage_kv * 1e3)
        env = env * torch.exp(-0.5 * (math.pi * wavelength * delta * k**2) ** 2)
    return env


def ctf_2d(shape_yx: tuple[int, int], pixel_a: float, optics: OpticsParams, defocus_a=None, *,
           extra_b_a2: float = 0.0, device: torch.device | str = "cpu",
           with_envelope: bool = True) -> torch.Tensor:
    """The CTF on the rFFT grid of an image ``[y, x]`` (float64).

    Parameters
    ----------
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    pixel_a : float
        Pixel size in Å.
    optics : OpticsParams
        The optics: voltage, Cs, amplitude contrast, defocus, astigmatism, phase plate, envelopes.
    defocus_a : float, torch.Tensor or None
        Defocus in Å (> 0 underfocus) overriding the nominal ``optics.defocus_um``: a number,
        or a tensor ``[n, 1, 1]`` for a stack of defocus values; None = the nominal one.
    extra_b_a2 : float
        B-factor in Å² added to ``optics.b_factor_a2``.
    device : torch.device or str
        Where the CTF is computed.
    with_envelope : bool
        Multiply by :func:`envelope` (at the mean defocus); False = the bare ``-sin(chi + ...)``.

    Returns
    -------
    torch.Tensor
        (ny, nx // 2 + 1), or (n, ny, nx // 2 + 1) for a ``[n, 1, 1]`` defocus: the CTF (float64).
    """
    k, az = frequency_grid(shape_yx, pixel_a, device=device)
    lam = wavelength_a(optics.voltage_kv)
    df = astigmatic_defocus(optics.defocus_a if defocus_a is None else defocus_a, az, optics)
    x = chi(k, df, lam, optics.cs_a) + math.asin(optics.amplitude_contrast)
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

    Solves ``chi(k) + arcsin(A) = n pi`` (n = 1, 2, ...) for ``k`` numerically on a fine grid
    (``k`` up to 1/Å, linear interpolation between the grid points).

    Parameters
    ----------
    n_zeros : int
        How many zeros to return at most.
    defocus_a : float
        Defocus in Å, > 0 underfocus.
    voltage_kv : float
        Acceleration voltage in kV.
    cs_mm : float
        Spherical aberration in mm.
    amplitude_contrast : float
        Amplitude contrast ``A`` in ``[0, 1)``.

    Returns
    -------
    numpy.ndarray
        (m,) with ``m <= n_zeros``: the zeros in 1/Å, increasing (fewer when they lie beyond 1/Å).
    """
    k = np.linspace(0, 1.0, 2_000_001)
    x = chi(k, defocus_a, wavelength_a(voltage_kv), cs_mm * 1e7) + math.asin(amplitude_contrast)
    s = np.sin(x)
    idx = np.nonzero(np.sign(s[1:]) != np.sign(s[:-1]))[0]
    idx = idx[k[idx] > 0][:n_zeros]
    return k[idx] + (k[1] - k[0]) * np.abs(s[idx]) / (np.abs(s[idx]) + np.abs(s[idx + 1]))


def check_sampling(pixel_a: float, box_px: int, optics: OpticsParams, max_defocus_a: float) -> None:
    """Stop early when the CTF cannot be represented on the image grid, warn when it is marginal.

    The CTF's phase must change by less than pi between neighbouring Fourier
    samples up to Nyquist (``lambda * df * k_nyq / (N * pixel) < 1/2``, i.e. the
    point-spread function of the defocus is narrower than half the image), else
    the simulated image aliases. Also warns when the pixel is too coarse to show
    any CTF oscillation (first zero beyond Nyquist).

    Parameters
    ----------
    pixel_a : float
        Pixel size in Å.
    box_px : int
        Image size in pixels (the smaller side).
    optics : OpticsParams
        The optics (voltage, Cs, astigmatism, nominal defocus, phase plate).
    max_defocus_a : float
        The largest defocus in Å any part of the sample sees (nominal plus the depth offset).

    Raises
    ------
    InputError
        When the CTF's phase changes by more than pi between Fourier samples at Nyquist.
    """
    lam = wavelength_a(optics.voltage_kv)
    k_nyq = 0.5 / pixel_a
    df = abs(max_defocus_a) + 0.5 * optics.astigmatism_a
    slope = abs(2 * math.pi * lam * df * k_nyq - 2 * math.pi * optics.cs_a * lam**3 * k_nyq**3)
    step = slope / (box_px * pixel_a)  # phase change between neighbouring Fourier samples at Nyquist
    if step > math.pi:
        raise InputError(
            f"the CTF aliases: at defocus {df / 1e4:.2f} µm and pixel {pixel_a} Å its phase changes by "
            f"{step:.2f} rad between Fourier samples at Nyquist (limit pi); lower the defocus, use a larger "
            f"image (box {box_px} px) or a coarser voxel size")
    if step > math.pi / 2:
        warnings.warn(f"the CTF is barely sampled (phase step {step:.2f} rad at Nyquist); expect aliasing",
                      stacklevel=2)
    zeros = ctf_zeros_1d(1, abs(optics.defocus_a) or 1.0, optics.voltage_kv, optics.cs_mm,
                         optics.amplitude_contrast)
    if not optics.phase_plate and len(zeros) and zeros[0] > k_nyq:
        warnings.warn(f"voxel size {pixel_a} Å is too coarse to sample the CTF: its first zero "
                      f"({1 / zeros[0]:.1f} Å) lies beyond Nyquist ({2 * pixel_a:.1f} Å); the images show "
                      "almost no phase contrast; use a smaller voxel size or a larger defocus", stacklevel=2)
