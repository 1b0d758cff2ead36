"""Template preparation: resampling, the CTF of the nominal defocus, the missing wedge, masks.

Frequencies are in cycles per Å; tilt angles in degrees. Volumes are ``[z, y, x]``
with the centre at index ``n // 2`` (tomobench convention). Filters for
``torch.fft.rfftn`` have the shape ``(nz, ny, nx // 2 + 1)``.

Following SHREC 2020 (PyTom): the template is multiplied by the CTF of the
dataset's nominal defocus with all frequencies beyond its first zero set to 0,
and weighted by the missing wedge of the tilt range (a binary wedge, in the
tomogram frame, so it is applied after rotating the template).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from tomobench.volumes import box_centre, crop


def electron_wavelength_a(voltage_kv: float) -> float:
    """Relativistic electron wavelength in Å for an acceleration voltage in kV (300 kV -> 0.01969 Å)."""
    volts = voltage_kv * 1e3
    return 12.2643 / math.sqrt(volts * (1.0 + 0.978466e-6 * volts))


def ctf_1d(freq_per_a: np.ndarray, *, defocus_um: float, voltage_kv: float, cs_mm: float,
           amplitude_contrast: float) -> np.ndarray:
    """Phase-contrast transfer function ``-(sqrt(1 - A^2) sin chi + A cos chi)``.

    ``chi = pi lambda dz k^2 - pi/2 Cs lambda^3 k^4``; positive ``defocus_um`` is
    underfocus, so the CTF is negative at low frequency (protein appears dark).
    """
    lam = electron_wavelength_a(voltage_kv)
    k2 = np.asarray(freq_per_a, dtype=float) ** 2
    chi = math.pi * lam * defocus_um * 1e4 * k2 - 0.5 * math.pi * cs_mm * 1e7 * lam ** 3 * k2 ** 2
    a = amplitude_contrast
    return -(math.sqrt(1.0 - a * a) * np.sin(chi) + a * np.cos(chi))


def first_zero_per_a(*, defocus_um: float, voltage_kv: float, cs_mm: float, amplitude_contrast: float,
                     k_max_per_a: float = 0.5) -> float:
    """Frequency (1/Å) of the CTF's first zero (``inf`` if none below ``k_max_per_a``)."""
    k = np.linspace(0.0, k_max_per_a, 200_001)[1:]   # k = 0 is a zero when A = 0
    c = ctf_1d(k, defocus_um=defocus_um, voltage_kv=voltage_kv, cs_mm=cs_mm, amplitude_contrast=amplitude_contrast)
    flips = np.flatnonzero(np.sign(c[1:]) != np.sign(c[:-1]))
    if not len(flips):
        return math.inf
    i = flips[0]   # linear interpolation between the bracketing samples
    return float(k[i] + (k[i + 1] - k[i]) * c[i] / (c[i] - c[i + 1]))


def rfft_frequencies(shape: tuple[int, int, int], voxel_size_a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable ``(kz, ky, kx)`` grids (1/Å) of the rfftn layout of ``shape``."""
    kz = np.fft.fftfreq(shape[0], voxel_size_a)[:, None, None]
    ky = np.fft.fftfreq(shape[1], voxel_size_a)[None, :, None]
    kx = np.fft.rfftfreq(shape[2], voxel_size_a)[None, None, :]
    return kz, ky, kx


def ctf_filter(shape: tuple[int, int, int], voxel_size_a: float, *, defocus_um: float, voltage_kv: float,
               cs_mm: float, amplitude_contrast: float, sign: float = 1.0) -> np.ndarray:
    """``sign * |CTF|`` up to the first zero, 0 beyond (rfftn layout, float32).

    Below its first zero the CTF has one sign; ``sign`` sets the template's
    contrast (+1: particles brighter than the background, as measured on the
    training split; -1: the raw CTF's dark particles).
    """
    kz, ky, kx = rfft_frequencies(shape, voxel_size_a)
    k = np.sqrt(kz ** 2 + ky ** 2 + kx ** 2)
    opts = dict(defocus_um=defocus_um, voltage_kv=voltage_kv, cs_mm=cs_mm, amplitude_contrast=amplitude_contrast)
    k0 = first_zero_per_a(**opts, k_max_per_a=max(0.5 / voxel_size_a, 1e-6) * 1.8)
    out = np.abs(ctf_1d(k, **opts)) * (k < k0)
    return (sign * out).astype(np.float32)


def wedge_mask(shape: tuple[int, int, int], tilt_min_deg: float, tilt_max_deg: float,
               tilt_axis_deg: float = 0.0) -> np.ndarray:
    """Binary missing-wedge mask (rfftn layout, float32): 1 where the tilt series sampled Fourier space.

    The tilt axis lies in the xy plane at ``tilt_axis_deg`` from the y axis
    (0: tilting about y). A tilt ``alpha`` samples the central plane normal to the
    beam ``(sin alpha, 0, cos alpha)`` (axis frame), i.e. the frequencies with
    ``atan(-kz / k_perp) = alpha``; the mask keeps those with that angle inside
    ``[tilt_min, tilt_max]`` and the k_perp = kz = 0 line.
    """
    kz, ky, kx = rfft_frequencies(shape, 1.0)
    a = math.radians(tilt_axis_deg)
    k_perp = kx * math.cos(a) + ky * math.sin(a)
    kz_full = np.broadcast_to(kz, np.broadcast_shapes(kz.shape, k_perp.shape))
    k_perp = np.broadcast_to(k_perp, kz_full.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = np.degrees(np.arctan(-kz_full / k_perp))
    angle = np.where(k_perp == 0, np.where(kz_full == 0, 0.0, 90.0), angle)
    inside = (angle >= tilt_min_deg - 1e-6) & (angle <= tilt_max_deg + 1e-6)
    if tilt_min_deg <= -90 or tilt_max_deg >= 90:
        inside |= (k_perp == 0)
    return inside.astype(np.float32)


def spherical_mask(size: int, radius_vox: float, edge_sigma_vox: float = 1.0) -> np.ndarray:
    """Soft sphere in a ``size^3`` box: 1 inside ``radius_vox``, a Gaussian edge beyond (float32)."""
    c = size // 2
    z, y, x = np.ogrid[:size, :size, :size]
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    if edge_sigma_vox <= 0:
        return (r <= radius_vox).astype(np.float32)
    out = np.exp(-0.5 * ((r - radius_vox) / edge_sigma_vox) ** 2)
    out[r <= radius_vox] = 1.0
    out[out < 1e-3] = 0.0
    return out.astype(np.float32)


def resample(template: np.ndarray, factor: float, size: int | None = None) -> np.ndarray:
    """Resample a centred template to voxels ``factor`` times larger (``factor`` 2: binning by 2).

    The centre voxel maps to the centre voxel; a Gaussian of sigma
    ``0.4 * factor`` guards against aliasing when shrinking. ``size`` defaults to
    ``ceil(n / factor)`` rounded up to odd.
    """
    template = np.asarray(template, dtype=np.float32)
    n = template.shape[0]
    if size is None:
        size = int(math.ceil(n / factor)) | 1
    if factor > 1:
        template = ndimage.gaussian_filter(template, 0.4 * factor)
    c_in, c_out = box_centre(template.shape), box_centre((size,) * 3)
    return ndimage.affine_transform(template, np.eye(3) * factor, offset=c_in - factor * c_out,
                                    output_shape=(size,) * 3, order=1, mode="constant", cval=0.0)


def centre_box(volume: np.ndarray, size: int) -> np.ndarray:
    """Crop or zero-pad a volume to ``size^3`` (float32) keeping the centre voxel (``n // 2``) at the centre."""
    return crop(volume, np.array(volume.shape) // 2 - size // 2, size, dtype=np.float32)


def support_radius_vox(template: np.ndarray, fraction: float = 0.05) -> float:
    """Distance from the centre to the farthest voxel above ``fraction`` of the template's maximum."""
    template = np.asarray(template)
    idx = np.argwhere(np.abs(template) > fraction * np.abs(template).max())
    if not len(idx):
        return 1.0
    return float(np.sqrt(((idx - box_centre(template.shape)) ** 2).sum(axis=1)).max())


def apply_filter(volume: np.ndarray, filt: np.ndarray, pad: int = 2) -> np.ndarray:
    """Multiply a centred volume by a radial rfftn filter made for ``pad`` times its size (zero-padded)."""
    n = volume.shape[0]
    big = centre_box(volume, pad * n)
    out = np.fft.irfftn(np.fft.rfftn(big) * filt, s=big.shape, axes=(0, 1, 2))
    return centre_box(out.astype(np.float32), n)
