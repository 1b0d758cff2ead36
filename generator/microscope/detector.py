"""Dose and detector: ice attenuation, Poisson counting, DQE/MTF, target-SNR noise.

Images are handled in *relative intensity* (1 = the unscattered beam at 0° in
vacuum) until :func:`add_noise`, which returns electron counts per pixel in
dose mode and relative intensity in SNR mode.

SNR definition (SHREC-style, measured on the tilt series): with ``c_i`` the
noise-free image of view ``i`` (after CTF, attenuation and detector MTF) and
``n_i`` its noise (noisy minus noise-free),
``SNR = mean_i var(c_i) / mean_i var(n_i)``, the variances taken over the pixels
of each view (so the mean intensity of a view is not signal).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tomobench.errors import InputError


def ice_attenuation(true_deg: np.ndarray, thickness_a: float, inelastic_mfp_nm: float) -> np.ndarray:
    """Fraction of electrons kept by the energy filter: ``exp(-t / (mfp cos(theta)))`` per view."""
    if inelastic_mfp_nm <= 0:
        return np.ones(len(true_deg))
    cos = np.cos(np.deg2rad(true_deg))
    return np.exp(-thickness_a / (inelastic_mfp_nm * 10.0 * np.clip(cos, 1e-3, None)))


def detector_mtf(shape_yx: tuple[int, int], detector: str, device="cpu") -> torch.Tensor:
    """MTF on the rFFT grid: 1 (ideal) or ``sinc(kx) sinc(ky)`` (counting, k in cycles/pixel)."""
    ny, nx = shape_yx
    if detector == "ideal":
        return torch.ones((ny, nx // 2 + 1), dtype=torch.float32, device=device)
    ky = torch.fft.fftfreq(ny, device=device)
    kx = torch.fft.rfftfreq(nx, device=device)
    return (torch.sinc(ky)[:, None] * torch.sinc(kx)[None, :]).float()


def apply_filter(images: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Multiply images ``[..., y, x]`` by a filter on their rFFT grid."""
    return torch.fft.irfft2(torch.fft.rfft2(images) * filt, s=images.shape[-2:])


def fourier_shift(images: torch.Tensor, shifts_xy: torch.Tensor) -> torch.Tensor:
    """Shift images ``[n, y, x]`` by ``shifts_xy`` ``[n, 2]`` pixels (content moves by +shift), periodic."""
    n, ny, nx = images.shape
    ky = torch.fft.fftfreq(ny, device=images.device, dtype=torch.float64)
    kx = torch.fft.rfftfreq(nx, device=images.device, dtype=torch.float64)
    sx = shifts_xy[:, 0].double()[:, None, None]
    sy = shifts_xy[:, 1].double()[:, None, None]
    phase = torch.exp(-2j * math.pi * (kx[None, None, :] * sx + ky[None, :, None] * sy)).to(torch.complex64)
    return torch.fft.irfft2(torch.fft.rfft2(images) * phase, s=(ny, nx))


def add_noise(clean: np.ndarray, *, mode: str, snr: float, dose_per_pixel: np.ndarray,
              attenuation: np.ndarray, detector: str, dqe_zero: float,
              rng: np.random.Generator,
              signal_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Add detector noise to the noise-free images ``clean`` ``[n, y, x]`` (relative intensity, MTF applied).

    Returns ``(noisy, noise_free, measured_snr)`` with both images in the same
    units (counts per pixel in ``dose`` mode, relative intensity otherwise).

    - ``dose``: counts ``~ Poisson(N)`` with ``N = dose_per_pixel[i] * clean`` (attenuation
      is already in ``clean``); a counting detector detects with ``DQE(k) = dqe_zero * MTF(k)^2``
      (noise of ``Poisson(dqe_zero N) / dqe_zero``, white; signal filtered by the MTF).
    - ``snr``: white Gaussian noise with variance ``var_signal / snr``, shared between the
      views in proportion to their intensity (fewer electrons at high tilt: relatively noisier).
    - ``none``: no noise (measured SNR: inf).

    ``signal_mask`` (``[y, x]`` bool) limits the variances of the SNR to the pixels that see the
    specimen (a turned detector, ``detector_frame.specimen_footprint``); the noise covers every pixel.
    """
    if mode == "none":
        return clean.copy(), clean, math.inf
    if mode == "dose":
        if np.any(dose_per_pixel <= 0):
            raise InputError("the dose per view must be > 0; raise dose_total_e_per_a2")
        signal = clean * dose_per_pixel[:, None, None]
        expected = np.clip(clean, 0.0, None) * dose_per_pixel[:, None, None]
        q = dqe_zero if detector == "counting" else 1.0  # detected fraction at zero frequency
        noisy = rng.poisson(expected * q).astype(np.float32) / np.float32(q)
        noisy += (signal - expected).astype(np.float32)
        noise_free = signal.astype(np.float32)
        return noisy, noise_free, measured_snr(noise_free, noisy, signal_mask)
    if mode == "snr":
        if snr <= 0:
            raise InputError(f"snr must be > 0 (got {snr})")
        var_signal = float(np.mean(_pixels(clean, signal_mask).var(axis=1)))
        if var_signal <= 0:
            raise InputError("the noise-free images have no contrast (empty grandmodel?); cannot set an SNR")
        rel = attenuation / attenuation.mean()
        sigma = np.sqrt(var_signal / snr / np.mean(1.0 / rel)) / np.sqrt(rel)
        noise = rng.standard_normal(clean.shape, dtype=np.float32) * sigma[:, None, None].astype(np.float32)
        noisy = clean + noise
        return noisy.astype(np.float32), clean.astype(np.float32), measured_snr(clean, noisy, signal_mask)
    raise InputError(f"unknown noise_mode {mode!r}; use snr, dose or none")


def _pixels(images: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``[n, pixels]`` view of ``images`` ``[n, y, x]``, only the ``mask`` pixels when given."""
    return images.reshape(images.shape[0], -1) if mask is None else images[:, mask]


def measured_snr(noise_free: np.ndarray, noisy: np.ndarray, signal_mask: np.ndarray | None = None) -> float:
    """``mean_i var(c_i) / mean_i var(noisy_i - c_i)`` over the views (see module doc), over the
    ``signal_mask`` pixels when given."""
    c = _pixels(noise_free, signal_mask).astype(np.float64)
    e = _pixels(noisy, signal_mask).astype(np.float64) - c
    var_n = float(np.mean(e.var(axis=1)))
    return math.inf if var_n == 0 else float(np.mean(c.var(axis=1)) / var_n)
