"""Density maps as class sources (MRC; e.g. EMDB entries or maps made elsewhere).

A map carries no atoms, so:
- its **mass** is given (``params.map_masses_kda[name]`` or a file ``<stem>.mass_kda.txt``
  beside the map holding one number in kDa) or else **estimated** from the volume of
  its envelope, the voxels above ``map_iso_fraction`` (default 0.5) × the map's maximum
  (after the border median is subtracted as background; on the ten SHREC 10 Å maps made from
  atomic models 0.5 gives the models' masses within 17.6 %, median 7.6 %: benchmarks/bench_structures.py),
  at protein density 1.35 g/cm³ (0.813 Da/Å³);
- it is resampled to the library voxel size by Fourier cropping/padding (with the
  same anti-alias window as atomic templates when it shrinks), its centre of mass
  (of the positive density inside the envelope, without
  bodies smaller than 10 % of the largest) is moved onto voxel ``n // 2`` of a
  box sized like an atomic template's, and it is scaled to **volts** so that its
  integral equals ``mass × (potential integral per Da of average protein)``; the
  template then compares directly with atomic ones.
"""

from __future__ import annotations

import math
from pathlib import Path

import mrcfile
import numpy as np
from scipy import ndimage

from generator.structures.potential import (
    PROTEIN_DENSITY_DA_A3,
    antialias_profile,
    box_voxels,
    bulk_protein_potential_v,
)
from tomobench.errors import InputError


def read_map(path: str | Path) -> tuple[np.ndarray, float]:
    """``(map [z, y, x] float64, voxel size Å)`` of an MRC file (plain or .gz); bad files raise InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError("map file not found; check the path", path)
    try:
        with mrcfile.open(path, mode="r", permissive=True) as mrc:
            if mrc.data is None or mrc.data.ndim != 3:
                raise ValueError("expected a 3D volume")
            data = np.asarray(mrc.data, float)
            voxel_size_a = float(mrc.voxel_size.x)
    except (ValueError, OSError) as exc:
        raise InputError(f"not a readable MRC map ({exc})", path) from None
    return data, voxel_size_a


def potential_per_da() -> float:
    """Integral of the potential per dalton of average protein (V·Å³/Da)."""
    return bulk_protein_potential_v() / PROTEIN_DENSITY_DA_A3


def given_mass_kda(path: Path, name: str, masses: dict[str, float]) -> float | None:
    """The mass stated for a map: in the parameters, or in ``<stem>.mass_kda.txt`` beside it."""
    if name in masses:
        return float(masses[name])
    side = path.with_name(f"{name}.mass_kda.txt")
    if side.is_file():
        try:
            value = float(side.read_text(encoding="utf-8").split()[0])
        except (ValueError, IndexError):
            raise InputError("expected one number (the mass in kDa)", side, 1) from None
        if value <= 0:
            raise InputError("the mass must be > 0 kDa", side, 1)
        return value
    return None


def subtract_background(volume: np.ndarray) -> np.ndarray:
    """The map minus the median of its outermost voxel layer.

    Parameters
    ----------
    volume : np.ndarray
        A 3-D map ``[z, y, x]`` (any unit).

    Returns
    -------
    np.ndarray
        The map as float64, same shape, with its background at 0.
    """
    v = np.asarray(volume, float)
    shell = np.concatenate([v[[0, -1]].ravel(), v[:, [0, -1]].ravel(), v[:, :, [0, -1]].ravel()])
    return v - float(np.median(shell))


def envelope(volume: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean envelope: voxels above ``fraction`` of the maximum (background-subtracted map).

    Parameters
    ----------
    volume : np.ndarray
        A background-subtracted 3-D map ``[z, y, x]``.
    fraction : float
        Threshold as a fraction of the map's maximum.

    Returns
    -------
    np.ndarray
        Boolean mask, same shape; all False when the maximum is not positive.
    """
    top = float(volume.max())
    if top <= 0:
        return np.zeros(volume.shape, bool)
    return volume > fraction * top


def largest_body(volume: np.ndarray, fraction: float) -> np.ndarray:
    """The map cut to its largest body: voxels nearer to it than to any other body of the envelope.

    For a map that holds several copies of a complex (a crystal's asymmetric unit, e.g. the two
    TRiC complexes of 4v94): the result is one complex, so its centre of mass is the complex's and
    not a point between copies. Bodies are the connected parts of :func:`envelope` at ``fraction``;
    each voxel goes to the nearest body (Euclidean distance), so the fringe below the threshold
    stays with its own complex. A map of one body is returned unchanged.
    """
    labels, count = ndimage.label(envelope(volume, fraction))
    if count <= 1:
        return np.asarray(volume, float)
    sizes = ndimage.sum_labels(labels > 0, labels, index=np.arange(1, count + 1))
    keep = labels == 1 + int(np.argmax(sizes))
    d_keep = ndimage.distance_transform_edt(~keep)
    d_other = ndimage.distance_transform_edt(~((labels > 0) & ~keep))
    return np.where(d_keep <= d_other, volume, 0.0)


def estimate_mass_kda(volume: np.ndarray, voxel_size_a: float, fraction: float) -> float:
    """Mass (kDa) of protein filling the envelope of a background-subtracted map at 1.35 g/cm³.

    Parameters
    ----------
    volume : np.ndarray
        A background-subtracted 3-D map ``[z, y, x]``.
    voxel_size_a : float
        Voxel size of the map (Å).
    fraction : float
        Envelope threshold (:func:`envelope`).

    Returns
    -------
    float
        The mass in kDa.
    """
    return float(envelope(volume, fraction).sum()) * voxel_size_a ** 3 * PROTEIN_DENSITY_DA_A3 / 1000.0


def fourier_resize(volume: np.ndarray, n_new: int) -> np.ndarray:
    """Resample a cubic map to ``n_new`` points per axis over the same extent (values kept).

    Shrinking applies the anti-alias window of the atomic templates
    (:func:`generator.structures.potential.antialias_profile`).

    Parameters
    ----------
    volume : np.ndarray
        A cubic map ``(n, n, n)``.
    n_new : int
        Points per axis of the result.

    Returns
    -------
    np.ndarray
        ``(n_new, n_new, n_new)`` float64 map, values on the scale of ``volume``.
    """
    n = volume.shape[0]
    if n_new == n:
        return np.asarray(volume, float)
    spec = np.fft.fftshift(np.fft.fftn(volume))
    out = np.zeros((n_new,) * 3, complex)
    c_old, c_new, half = n // 2, n_new // 2, min(n, n_new) // 2
    sl_old = slice(c_old - half, c_old - half + min(n, n_new))
    sl_new = slice(c_new - half, c_new - half + min(n, n_new))
    out[sl_new, sl_new, sl_new] = spec[sl_old, sl_old, sl_old]
    out = np.fft.ifftshift(out)
    if n_new < n:                                   # the same anti-alias window as atomic templates
        q = np.fft.fftfreq(n_new)
        rel = 2.0 * np.sqrt(q[:, None, None] ** 2 + q[None, :, None] ** 2 + q[None, None, :] ** 2)
        out *= antialias_profile(rel)
    return np.real(np.fft.ifftn(out)) * (n_new / n) ** 3


def template_from_map(volume: np.ndarray, map_voxel_a: float, voxel_size_a: float, mass_kda: float, *,
                      pad_voxels: int = 3, fraction: float) -> tuple[np.ndarray, float]:
    """``(template in V [z, y, x] float32, bounding radius in Å)`` of a map, centred and scaled to ``mass_kda``.

    ``volume`` is a cubic map with its background subtracted (:func:`subtract_background`); ``fraction``
    sets the envelope (:func:`envelope`) whose centre of mass is centred and whose extent sizes the box.
    """
    n_new = max(4, int(round(volume.shape[0] * map_voxel_a / voxel_size_a)))
    v = fourier_resize(volume, n_new)
    env = envelope(v, fraction)
    if not env.any():
        raise ValueError("the map has no density above its background")
    labels, count = ndimage.label(env)
    if count > 1:                                   # drop dust: bodies under 10 % of the largest
        sizes = ndimage.sum_labels(env, labels, index=np.arange(1, count + 1))
        env = np.isin(labels, 1 + np.flatnonzero(sizes >= 0.1 * sizes.max()))
    weights = np.where(env, np.clip(v, 0, None), 0.0)
    com = np.array(ndimage.center_of_mass(weights))
    grid = np.indices(v.shape).reshape(3, -1).T[env.ravel()]
    radius_a = float(np.sqrt(((grid - com) ** 2).sum(axis=1)).max() + math.sqrt(3) / 2) * voxel_size_a
    n = box_voxels(radius_a, voxel_size_a, pad_voxels)
    big = max(n, n_new) + 2 * int(np.ceil(np.abs(com - n_new // 2).max())) + 2
    canvas = np.zeros((big,) * 3)
    o = (big - n_new) // 2
    canvas[o:o + n_new, o:o + n_new, o:o + n_new] = v
    shift = (big // 2) - (com + o)
    canvas = ndimage.shift(canvas, shift, order=3, mode="constant")
    s = big // 2 - n // 2
    template = canvas[s:s + n, s:s + n, s:s + n]
    integral = float(template.sum()) * voxel_size_a ** 3
    if integral <= 0:
        raise ValueError("the map integrates to zero or less after background subtraction")
    template = template * (mass_kda * 1000.0 * potential_per_da() / integral)
    return template.astype(np.float32), radius_a
