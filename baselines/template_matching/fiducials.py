"""Erasing gold fiducials (and other extreme-density outliers) before template matching.

A gold bead is far denser than any protein: on the `default` preset's test tomogram
(10 A voxels, smoothed by a 1-voxel Gaussian, in units of the smoothed volume's standard
deviation) the beads' centres reach 10-14, protein particles at most 5.7. Left in, a bead
dominates the local normalised cross-correlation of every template near it: 73 of the
81 best peaks of the 240 kDa class's coarse scan lay within 15 voxels of the 4 beads,
so the candidates of the medium classes were spent on them. Like IMOD's bead eraser,
the voxels of each bead (the smoothed volume above ``z_threshold`` robust standard
deviations, grown by ``dilate_vox`` voxels to cover the bead's rim and ringing) are
replaced by Gaussian noise with the volume's robust mean and standard deviation, so
the local statistics there look like background and no template matches.

The threshold is calibrated on the training split (:func:`separating_threshold`):
halfway between the densest labelled particle and the faintest labelled bead, in the
same units; where they overlap (or the training truth labels no beads) nothing is
erased, so a clean high-SNR tomogram never loses its particles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class Erased:
    """A volume with its outliers replaced, the replaced voxels and the number of blobs found."""

    volume: np.ndarray     # float32, same shape as the input
    mask: np.ndarray       # bool, True where voxels were replaced
    n_blobs: int           # connected components above the threshold (before growing)


def _robust_centre_scale(values: np.ndarray) -> tuple[float, float]:
    """Median and 1.4826 x median absolute deviation (the std of a Gaussian), 1 where that is 0."""
    centre = float(np.median(values))
    scale = 1.4826 * float(np.median(np.abs(values - centre)))
    return centre, scale if scale > 0 else 1.0


def fiducial_mask(volume: np.ndarray, sign: float, *, z_threshold: float = 8.0, sigma_vox: float = 1.0,
                  dilate_vox: int = 4) -> tuple[np.ndarray, int]:
    """Voxels of extreme-density blobs of ``volume`` (z, y, x) and the number of blobs.

    Parameters
    ----------
    volume : (nz, ny, nx) array
    sign : float
        +1 where particles are brighter than background, -1 where darker (density is ``sign * volume``).
    z_threshold : float
        Threshold on the density smoothed by a Gaussian of ``sigma_vox`` voxels, in robust
        standard deviations (median absolute deviation) of the smoothed volume above its median.
    dilate_vox : int
        The blobs are grown by this many voxels (6-connected steps).

    Returns
    -------
    mask : (nz, ny, nx) bool
    n_blobs : int
    """
    if z_threshold <= 0 or sigma_vox < 0 or dilate_vox < 0:
        raise ValueError("z_threshold must be positive, sigma_vox and dilate_vox non-negative")
    density = np.asarray(volume, dtype=np.float32) * np.float32(1.0 if sign >= 0 else -1.0)
    smooth = ndimage.gaussian_filter(density, sigma_vox) if sigma_vox > 0 else density
    centre, scale = _robust_centre_scale(smooth)
    core = smooth - centre > z_threshold * scale
    _, n_blobs = ndimage.label(core)
    if dilate_vox and n_blobs:
        core = ndimage.binary_dilation(core, ndimage.generate_binary_structure(3, 1), iterations=dilate_vox)
    return core, int(n_blobs)


def erase_fiducials(volume: np.ndarray, sign: float, *, z_threshold: float = 8.0, sigma_vox: float = 1.0,
                    dilate_vox: int = 4, seed: int = 0) -> Erased:
    """Replace the voxels of :func:`fiducial_mask` by seeded Gaussian noise of the volume's robust statistics.

    Same inputs and ``seed`` give the same bytes. A volume without blobs is returned unchanged (as float32).
    """
    v = np.asarray(volume, dtype=np.float32)
    mask, n_blobs = fiducial_mask(v, sign, z_threshold=z_threshold, sigma_vox=sigma_vox, dilate_vox=dilate_vox)
    out = v.copy()
    if n_blobs:
        centre, scale = _robust_centre_scale(v)
        noise = np.random.default_rng(seed).standard_normal(int(mask.sum()))
        out[mask] = (centre + scale * noise).astype(np.float32)
    return Erased(out, mask, n_blobs)


def _window_max(normalised: np.ndarray, zyx: np.ndarray, half: int) -> np.ndarray:
    """Maximum of ``normalised`` in the cube of half-width ``half`` around each voxel ``zyx`` (clipped at edges)."""
    hi = np.array(normalised.shape) - 1
    out = np.empty(len(zyx))
    for k, p in enumerate(np.rint(np.asarray(zyx, float)).astype(int)):
        lo_, hi_ = np.clip(p - half, 0, hi), np.clip(p + half, 0, hi) + 1
        out[k] = normalised[lo_[0]:hi_[0], lo_[1]:hi_[1], lo_[2]:hi_[2]].max()
    return out


def contrast_at(volume: np.ndarray, sign: float, zyx: np.ndarray, *, sigma_vox: float = 1.0,
                half_vox: int = 2) -> np.ndarray:
    """Smoothed density at the points ``zyx`` (n, 3), in the units of :func:`fiducial_mask`'s threshold.

    The density ``sign * volume`` smoothed by ``sigma_vox``, minus its median, over its
    robust standard deviation; the maximum within ``half_vox`` voxels of each point
    (a labelled centre may sit a voxel or two off a bead's densest voxel).
    """
    density = np.asarray(volume, dtype=np.float32) * np.float32(1.0 if sign >= 0 else -1.0)
    smooth = ndimage.gaussian_filter(density, sigma_vox) if sigma_vox > 0 else density
    centre, scale = _robust_centre_scale(smooth)
    return _window_max((smooth - centre) / scale, np.asarray(zyx).reshape(-1, 3), half_vox)


def separating_threshold(particle_contrast: np.ndarray, bead_contrast: np.ndarray) -> float | None:
    """Threshold halfway between the densest particle and the faintest bead, or None when they overlap.

    ``particle_contrast`` and ``bead_contrast`` are :func:`contrast_at` values at the labelled
    particles and beads of the training split; None also when either is empty.
    """
    particles, beads = np.asarray(particle_contrast, float), np.asarray(bead_contrast, float)
    if not len(particles) or not len(beads) or beads.min() <= particles.max():
        return None
    return float(0.5 * (particles.max() + beads.min()))
