"""Dose and detector: ice attenuation, Poisson counting, DQE/MTF, the noise models.

Images are handled in *relative intensity* (1 = the unscattered beam at 0° in
vacuum) until :func:`add_noise`, which returns electron counts per pixel in
dose mode and relative intensity in the other modes.

SNR definition (SHREC-style, measured on the tilt series): with ``c_i`` the
noise-free image of view ``i`` (after CTF, attenuation and detector MTF) and
``n_i`` its noise (noisy minus noise-free),
``SNR = mean_i var(c_i) / mean_i var(n_i)``, the variances taken over the pixels
of each view (so the mean intensity of a view is not signal).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from generator.microscope import ctf as ctfm
from tomobench.errors import InputError

if TYPE_CHECKING:
    from generator.microscope.params import OpticsParams


def ice_attenuation(true_deg: np.ndarray, thickness_a: float, inelastic_mfp_nm: float) -> np.ndarray:
    """Fraction of electrons kept by the energy filter: ``exp(-t / (mfp cos(theta)))`` per view.

    Parameters
    ----------
    true_deg : numpy.ndarray
        (n,) the true tilt angle of each view in degrees.
    thickness_a : float
        Ice thickness ``t`` in Å (at 0°).
    inelastic_mfp_nm : float
        Inelastic mean free path in nm; <= 0 = no attenuation.

    Returns
    -------
    numpy.ndarray
        (n,) the fraction kept per view, in ``(0, 1]``.
    """
    if inelastic_mfp_nm <= 0:
        return np.ones(len(true_deg))
    cos = np.cos(np.deg2rad(true_deg))
    return np.exp(-thickness_a / (inelastic_mfp_nm * 10.0 * np.clip(cos, 1e-3, None)))


def detector_mtf(shape_yx: tuple[int, int], detector: str, device="cpu") -> torch.Tensor:
    """MTF on the rFFT grid: 1 (ideal) or ``sinc(kx) sinc(ky)`` (counting, k in cycles/pixel).

    Parameters
    ----------
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    detector : str
        ``ideal`` or ``counting``.
    device : torch.device or str
        Where the MTF is made.

    Returns
    -------
    torch.Tensor
        (ny, nx // 2 + 1) float32: the MTF.
    """
    ny, nx = shape_yx
    if detector == "ideal":
        return torch.ones((ny, nx // 2 + 1), dtype=torch.float32, device=device)
    ky = torch.fft.fftfreq(ny, device=device)
    kx = torch.fft.rfftfreq(nx, device=device)
    return (torch.sinc(ky)[:, None] * torch.sinc(kx)[None, :]).float()


def apply_filter(images: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Multiply images ``[..., y, x]`` by a filter on their rFFT grid.

    Parameters
    ----------
    images : torch.Tensor
        (..., Y, X) real images.
    filt : torch.Tensor
        (..., Y, X // 2 + 1), broadcasting with the images' rFFT: the filter.

    Returns
    -------
    torch.Tensor
        (..., Y, X) the filtered images.
    """
    return torch.fft.irfft2(torch.fft.rfft2(images) * filt, s=images.shape[-2:])


def fourier_shift(images: torch.Tensor, shifts_xy: torch.Tensor) -> torch.Tensor:
    """Shift images ``[n, y, x]`` by ``shifts_xy`` ``[n, 2]`` pixels (content moves by +shift), periodic.

    Parameters
    ----------
    images : torch.Tensor
        (n, Y, X) real images.
    shifts_xy : torch.Tensor
        (n, 2) the shift of each image in pixels, ``(x, y)``.

    Returns
    -------
    torch.Tensor
        (n, Y, X) the shifted images.
    """
    n, ny, nx = images.shape
    ky = torch.fft.fftfreq(ny, device=images.device, dtype=torch.float64)
    kx = torch.fft.rfftfreq(nx, device=images.device, dtype=torch.float64)
    sx = shifts_xy[:, 0].double()[:, None, None]
    sy = shifts_xy[:, 1].double()[:, None, None]
    phase = torch.exp(-2j * math.pi * (kx[None, None, :] * sx + ky[None, :, None] * sy)).to(torch.complex64)
    return torch.fft.irfft2(torch.fft.rfft2(images) * phase, s=(ny, nx))


def add_noise(clean: np.ndarray, *, mode: str, snr: float, dose_per_pixel: np.ndarray, detector: str,
              dqe_zero: float, rng: np.random.Generator, signal_mask: np.ndarray | None = None,
              shrec_filter: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Add noise to the noise-free images ``clean`` ``[n, y, x]`` (relative intensity, MTF and damage applied).

    Returns ``(noisy, noise_free, measured_snr)`` with both images in the same
    units (counts per pixel in ``dose`` mode, relative intensity otherwise).

    - ``dose``: counts ``~ Poisson(N)`` with ``N = dose_per_pixel[i] * clean`` (attenuation
      is already in ``clean``); a counting detector detects with ``DQE(k) = dqe_zero * MTF(k)^2``
      (noise of ``Poisson(dqe_zero N) / dqe_zero``, white; signal filtered by the MTF).
    - ``snr``: white Gaussian noise of variance ``K * mean(c_i)`` in view ``i`` (the Poisson variance
      up to the constant ``K``, so a view with fewer electrons is noisier: per-view SNR ``∝ a_i``),
      ``K`` chosen so that the tilt series has the SNR ``snr``.
    - ``shrec2020``: PyTom's ``simutomo`` noise (SHREC 2020), see :func:`shrec2020_noise`;
      ``snr`` is its nominal parameter; needs ``shrec_filter`` (:func:`shrec_noise_filter`).
    - ``none``: no noise (measured SNR: inf).

    ``signal_mask`` (``[y, x]`` bool) limits the variances of the SNR to the pixels that see the
    specimen (a turned detector, ``detector_frame.specimen_footprint``); the noise covers every pixel.

    Parameters
    ----------
    clean : numpy.ndarray
        (n, Y, X) the noise-free views in relative intensity.
    mode : str
        ``dose``, ``snr``, ``shrec2020`` or ``none`` (above).
    snr : float
        ``snr`` mode: the target SNR (variance ratio) of the tilt series; ``shrec2020``: PyTom's nominal SNR.
    dose_per_pixel : numpy.ndarray
        (n,) the electrons per pixel of each view (``dose`` mode; dose in e/Å² times ``pixel_a**2``).
    detector : str
        ``ideal`` or ``counting``.
    dqe_zero : float
        The counting detector's DQE at zero frequency, in ``(0, 1]``.
    rng : numpy.random.Generator
        The source of the noise.
    signal_mask : numpy.ndarray or None
        (Y, X) bool: the pixels the SNR is measured on; None = all.
    shrec_filter : torch.Tensor or None
        (Y, X // 2 + 1) the ``shrec2020`` noise filter.

    Returns
    -------
    noisy : numpy.ndarray
        (n, Y, X) the noisy views (float32; in ``none`` mode a copy of ``clean``).
    noise_free : numpy.ndarray
        (n, Y, X) the noise-free views in the same units (in ``none`` mode ``clean`` itself).
    measured_snr : float
        The SNR of the result (:func:`measured_snr`).

    Raises
    ------
    InputError
        On an unknown ``mode``, a dose <= 0, an ``snr`` <= 0 or views without contrast.
    """
    if mode == "none":
        return clean.copy(), clean, math.inf
    if mode == "dose":
        if np.any(dose_per_pixel <= 0):
            raise InputError("the dose per view must be > 0; raise dose_total_e_per_a2")
        signal = clean * dose_per_pixel[:, None, None]
        expected = np.clip(clean, 0.0, None) * dose_per_pixel[:, None, None]
        q = detected_fraction(detector, dqe_zero)
        noisy = rng.poisson(expected * q).astype(np.float32) / np.float32(q)
        noisy += (signal - expected).astype(np.float32)
        noise_free = signal.astype(np.float32)
        return noisy, noise_free, measured_snr(noise_free, noisy, signal_mask)
    if snr <= 0:
        raise InputError(f"snr must be > 0 (got {snr})")
    if mode == "snr":
        px = _pixels(clean, signal_mask).astype(np.float64)
        var_signal, mean_level = px.var(axis=1), px.mean(axis=1)
        if var_signal.sum() <= 0:
            raise InputError("the noise-free images have no contrast (empty grandmodel?); cannot set an SNR")
        k = var_signal.sum() / (snr * np.clip(mean_level, 1e-12, None).sum())
        sigma = np.sqrt(k * np.clip(mean_level, 1e-12, None))
        noise = rng.standard_normal(clean.shape, dtype=np.float32) * sigma[:, None, None].astype(np.float32)
        noisy = clean + noise
        return noisy.astype(np.float32), clean.astype(np.float32), measured_snr(clean, noisy, signal_mask)
    if mode == "shrec2020":
        if shrec_filter is None:
            raise InputError("noise_mode shrec2020 needs the CTF noise filter (shrec_noise_filter)")
        noisy, noise_free = shrec2020_noise(clean, snr, shrec_filter, rng, signal_mask)
        return noisy, noise_free, measured_snr(noise_free, noisy, signal_mask)
    raise InputError(f"unknown noise_mode {mode!r}; use dose, snr, shrec2020 or none")


def detected_fraction(detector: str, dqe_zero: float) -> float:
    """Fraction of the electrons a detector counts at zero frequency: ``dqe_zero`` (counting) or 1 (ideal).

    Parameters
    ----------
    detector : str
        ``ideal`` or ``counting``.
    dqe_zero : float
        The counting detector's DQE at zero frequency.

    Returns
    -------
    float
        The fraction ``q`` in ``(0, 1]``.
    """
    return dqe_zero if detector == "counting" else 1.0


def fourier_disk(shape_yx: tuple[int, int], device="cpu") -> torch.Tensor:
    """PyTom's final Fourier mask on the rFFT grid: 1 where ``|k| < N/2 - 1`` pixels (``N = min(ny, nx)``).

    Parameters
    ----------
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    device : torch.device or str
        Where the mask is made.

    Returns
    -------
    torch.Tensor
        (ny, nx // 2 + 1) float32: 1 inside the disk, 0 outside.
    """
    ny, nx = shape_yx
    ky = torch.fft.fftfreq(ny, device=device, dtype=torch.float64)
    kx = torch.fft.rfftfreq(nx, device=device, dtype=torch.float64)
    n = min(ny, nx)
    return ((torch.hypot(ky[:, None], kx[None, :]) * n) < n / 2 - 1).float()


def shrec_noise_filter(shape_yx: tuple[int, int], pixel_a: float, optics: OpticsParams, decay_nyquist: float,
                       device="cpu") -> torch.Tensor:
    """The part of PyTom's CTF that survives its ``Re[ifft(...)]``: ``A cos chi(k) exp(-(k / (s k_Nyq))^2)``.

    PyTom's CTF is ``A cos chi - i (1 - A) sin chi`` times the Gaussian decay (``s = decay_nyquist``,
    0 = none); it is even in ``k``, so its imaginary part turns real noise imaginary and the real
    part of the filtered noise only keeps ``A cos chi``. On the rFFT grid, float32, at the nominal defocus.

    Parameters
    ----------
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    pixel_a : float
        Pixel size in Å.
    optics : OpticsParams
        Gives the voltage (kV), Cs (mm), nominal defocus (µm) and amplitude contrast ``A``.
    decay_nyquist : float
        The decay's ``s`` in units of Nyquist; 0 = no decay.
    device : torch.device or str
        Where the filter is made.

    Returns
    -------
    torch.Tensor
        (ny, nx // 2 + 1) float32: the filter ``H``.
    """
    k, _ = ctfm.frequency_grid(shape_yx, pixel_a, device=device)
    lam = ctfm.wavelength_a(optics.voltage_kv)
    x = ctfm.chi(k, optics.defocus_a, lam, optics.cs_a)
    filt = optics.amplitude_contrast * torch.cos(x)
    if decay_nyquist > 0:
        filt = filt * torch.exp(-(k * 2 * pixel_a / decay_nyquist) ** 2)
    return filt.float()


def rfft_weights(shape_yx: tuple[int, int], device="cpu") -> torch.Tensor:
    """How often each rFFT coefficient appears in the full spectrum (1 or 2), DC set to 0 (not variance).

    Parameters
    ----------
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    device : torch.device or str
        Where the weights are made.

    Returns
    -------
    torch.Tensor
        (ny, nx // 2 + 1) float64: the weights.
    """
    ny, nx = shape_yx
    w = torch.full((ny, nx // 2 + 1), 2.0, dtype=torch.float64, device=device)
    w[:, 0] = 1.0
    if nx % 2 == 0:
        w[:, -1] = 1.0
    w[0, 0] = 0.0
    return w


def filtered_noise_variance(filt: torch.Tensor, shape_yx: tuple[int, int]) -> float:
    """Variance of unit white noise ``[y, x]`` after the rFFT-grid filter ``filt`` (Parseval, DC excluded).

    Parameters
    ----------
    filt : torch.Tensor
        (ny, nx // 2 + 1) the filter on the rFFT grid.
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.

    Returns
    -------
    float
        The variance (per pixel) of the filtered noise.
    """
    w = rfft_weights(shape_yx, filt.device)
    return float((w * filt.double() ** 2).sum()) / (shape_yx[0] * shape_yx[1])


def shrec_corrfac(filt: torch.Tensor, shape_yx: tuple[int, int], radius_px: float = 10.0) -> float:
    """PyTom's ``corrfac``: var(white noise in a Fourier disk of ``radius_px``) / var(the same through the CTF).

    PyTom estimates it from one noise draw; this is its expectation (Parseval, DC excluded), ~ 1/A^2.

    Parameters
    ----------
    filt : torch.Tensor
        (ny, nx // 2 + 1) the CTF noise filter ``H`` (:func:`shrec_noise_filter`).
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.
    radius_px : float
        Radius of the Fourier disk in frequency pixels (PyTom: 10).

    Returns
    -------
    float
        ``corrfac``, dimensionless.
    """
    ny, nx = shape_yx
    ky = torch.fft.fftfreq(ny, device=filt.device, dtype=torch.float64) * ny
    kx = torch.fft.rfftfreq(nx, device=filt.device, dtype=torch.float64) * nx
    disk = (torch.hypot(ky[:, None], kx[None, :]) <= radius_px).double()
    w = rfft_weights(shape_yx, filt.device) * disk
    return float(w.sum() / (w * filt.double() ** 2).sum())


def shrec2020_expected_snr(nominal_snr: float, filt: torch.Tensor, shape_yx: tuple[int, int]) -> float:
    """The SNR (var-ratio definition of :func:`measured_snr`) that PyTom's nominal ``nominal_snr`` gives.

    Noise variance ``0.5 / SNR_nom * sigma * corrfac * <|H disk|^2>`` against the signal variance
    ``sigma``: ``SNR = SNR_nom / (0.5 corrfac <|H disk|^2>)`` (the disk's loss of signal, the
    corners beyond Nyquist, neglected). 0.004 at 300 kV, 3 µm, A = 0.08, decay 0.4, 10 Å -> ~0.15.

    Parameters
    ----------
    nominal_snr : float
        PyTom's nominal SNR parameter, > 0.
    filt : torch.Tensor
        (ny, nx // 2 + 1) the CTF noise filter ``H`` (:func:`shrec_noise_filter`).
    shape_yx : tuple of int
        ``(ny, nx)`` the image shape in pixels.

    Returns
    -------
    float
        The expected SNR (variance ratio).
    """
    disk = fourier_disk(shape_yx, filt.device)
    return nominal_snr / (0.5 * shrec_corrfac(filt, shape_yx) * filtered_noise_variance(filt * disk, shape_yx))


def shrec2020_noise(clean: np.ndarray, nominal_snr: float, filt: torch.Tensor, rng: np.random.Generator,
                    signal_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """PyTom's ``simutomo`` (SHREC 2020) on noise-free views ``[n, y, x]``: ``(noisy, noise_free)``.

    ``sigma = mean_i var(c_i)``; per view, white ``pre ~ N(0, 0.5 / nominal_snr * sigma * corrfac)``
    (:func:`shrec_corrfac`), ``noisy = F^-1[(F(c) + F(pre) H) disk]`` with ``H`` = ``filt``
    (:func:`shrec_noise_filter`) and ``disk`` = :func:`fourier_disk`. PyTom's third term, a band-pass
    copy of ``pre`` through a Gaussian-smoothed 3-pixel disk (its weight ~4e-4: 1e-5 of the noise
    power at 512 px), is left out. The same noise level in every view (SHREC's choice).

    Parameters
    ----------
    clean : numpy.ndarray
        (n, Y, X) the noise-free views ``c_i`` (relative intensity).
    nominal_snr : float
        PyTom's nominal SNR, > 0.
    filt : torch.Tensor
        (Y, X // 2 + 1) the CTF noise filter ``H`` (:func:`shrec_noise_filter`).
    rng : numpy.random.Generator
        The source of the noise.
    signal_mask : numpy.ndarray or None
        (Y, X) bool: the pixels ``sigma`` is measured on; None = all.

    Returns
    -------
    noisy : numpy.ndarray
        (n, Y, X) float32: the noisy views.
    noise_free : numpy.ndarray
        (n, Y, X) float32: the noise-free views through the same disk.

    Raises
    ------
    InputError
        When the views have no contrast.
    """
    n, ny, nx = clean.shape
    sigma = float(np.mean(_pixels(clean, signal_mask).astype(np.float64).var(axis=1)))
    if sigma <= 0:
        raise InputError("the noise-free images have no contrast (empty grandmodel?); cannot set an SNR")
    pre_std = math.sqrt(0.5 / nominal_snr * sigma * shrec_corrfac(filt, (ny, nx)))
    disk = fourier_disk((ny, nx), filt.device)
    noisy = np.empty_like(clean, dtype=np.float32)
    noise_free = np.empty_like(clean, dtype=np.float32)
    for i in range(n):  # one view at a time: memory stays at a few images
        c = torch.from_numpy(np.ascontiguousarray(clean[i], dtype=np.float32)).to(filt.device)
        pre = torch.from_numpy(rng.standard_normal((ny, nx), dtype=np.float32)).to(filt.device) * pre_std
        nf = apply_filter(c, disk)
        noise_free[i] = nf.cpu().numpy()
        noisy[i] = (nf + apply_filter(pre, filt * disk)).cpu().numpy()
    return noisy, noise_free


def equivalent_dose_total_e_per_a2(clean_rel: np.ndarray, snr: float, pixel_a: float, detector: str,
                                   dqe_zero: float, signal_mask: np.ndarray | None = None) -> float:
    """Total dose (e/Å², over the tilt series) at which the ``dose`` model gives the SNR ``snr``.

    In the dose model, view ``i`` gets ``N`` electrons per pixel times ``c_i`` (relative intensity
    ``clean_rel``), signal variance ``N^2 var(c_i)``, noise variance ``N mean(c_i) / q`` (Poisson,
    ``q`` = :func:`detected_fraction`), so ``SNR = N q sum var(c_i) / sum mean(c_i)``; solved for
    ``N`` and converted: ``n_views * N / pixel_a^2``.

    Parameters
    ----------
    clean_rel : numpy.ndarray
        (n, Y, X) the noise-free views in relative intensity.
    snr : float
        The SNR (variance ratio) to reach.
    pixel_a : float
        Pixel size in Å.
    detector : str
        ``ideal`` or ``counting``.
    dqe_zero : float
        The counting detector's DQE at zero frequency.
    signal_mask : numpy.ndarray or None
        (Y, X) bool: the pixels the variances are taken over; None = all.

    Returns
    -------
    float
        The total dose in e/Å²; inf when the views have no contrast or ``snr`` is infinite.
    """
    px = _pixels(clean_rel, signal_mask).astype(np.float64)
    var, mean = px.var(axis=1).sum(), px.mean(axis=1).sum()
    if var <= 0 or not math.isfinite(snr):
        return math.inf
    n_per_pixel = snr * mean / (detected_fraction(detector, dqe_zero) * var)
    return float(len(clean_rel) * n_per_pixel / pixel_a**2)


def snr_per_view(noise_free: np.ndarray, noisy: np.ndarray, signal_mask: np.ndarray | None = None) -> np.ndarray:
    """``var(c_i) / var(noisy_i - c_i)`` of each view ``[n]`` (inf where a view has no noise).

    Parameters
    ----------
    noise_free : numpy.ndarray
        (n, Y, X) the noise-free views ``c_i``.
    noisy : numpy.ndarray
        (n, Y, X) the same views with noise.
    signal_mask : numpy.ndarray or None
        (Y, X) bool: the pixels the variances are taken over; None = all.

    Returns
    -------
    numpy.ndarray
        (n,) float64: the SNR of each view.
    """
    c = _pixels(noise_free, signal_mask).astype(np.float64)
    var_n = (_pixels(noisy, signal_mask).astype(np.float64) - c).var(axis=1)
    with np.errstate(divide="ignore"):
        return np.where(var_n > 0, c.var(axis=1) / np.where(var_n > 0, var_n, 1.0), np.inf)


def _pixels(images: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``[n, pixels]`` view of ``images`` ``[n, y, x]``, only the ``mask`` pixels when given."""
    return images.reshape(images.shape[0], -1) if mask is None else images[:, mask]


def measured_snr(noise_free: np.ndarray, noisy: np.ndarray, signal_mask: np.ndarray | None = None) -> float:
    """The tilt series' SNR ``mean_i var(c_i) / mean_i var(noisy_i - c_i)`` (see module doc).

    Parameters
    ----------
    noise_free : numpy.ndarray
        (n, Y, X) the noise-free views ``c_i``.
    noisy : numpy.ndarray
        (n, Y, X) the same views with noise.
    signal_mask : numpy.ndarray or None
        (Y, X) bool: the variances are taken over these pixels only; None = all pixels.

    Returns
    -------
    float
        The SNR (a variance ratio, dimensionless); inf when there is no noise.
    """
    c = _pixels(noise_free, signal_mask).astype(np.float64)
    e = _pixels(noisy, signal_mask).astype(np.float64) - c
    var_n = float(np.mean(e.var(axis=1)))
    return math.inf if var_n == 0 else float(np.mean(c.var(axis=1)) / var_n)
