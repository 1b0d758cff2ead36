"""Acquisition geometry: tilt angles, recording order (scheme), dose per view, misalignment.

Convention: the volume is ``[z, y, x]``, the beam travels along +z at 0°, the
tilt axis is the y axis (``tilt_axis_deg = 0``: along the image rows' y
direction, as IMOD measures it). A view at tilt ``theta`` sees the sample point
``(x, z)`` (relative to the centre voxel ``n // 2``) at detector coordinate
``u = x cos(theta) + z sin(theta)`` and depth ``w = -x sin(theta) + z cos(theta)``
(``w`` grows along the beam).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tomobench.errors import InputError

if TYPE_CHECKING:
    from generator.microscope.params import AcquisitionParams


@dataclass(frozen=True)
class TiltSeries:
    """One tilt series: per view (sorted by nominal angle) its angles, order, dose and shift."""

    nominal_deg: np.ndarray  # recorded angles (what a participant sees), ascending
    true_deg: np.ndarray  # angles the sample was really at (nominal + error)
    order: np.ndarray  # 0-based acquisition index of each view
    dose_e_per_a2: np.ndarray  # dose of each view
    accumulated_dose_e_per_a2: np.ndarray  # dose received before each view
    shifts_px: np.ndarray  # [n, 2] (shift_x, shift_y) applied to each view, pixels


def tilt_angles(tilt_min_deg: float, tilt_max_deg: float, step_deg: float) -> np.ndarray:
    """Angles from ``tilt_min_deg`` to ``tilt_max_deg`` (inclusive when on the grid) every ``step_deg``.

    Raises :class:`InputError` for ranges beyond ±90°, a reversed range or a non-positive step.

    Parameters
    ----------
    tilt_min_deg, tilt_max_deg : float
        The tilt range in degrees, within ±90°.
    step_deg : float
        The tilt step in degrees, > 0.

    Returns
    -------
    numpy.ndarray
        (n,) float64: the angles in degrees, ascending (+90 left out of a full ±90° range).
    """
    if not (-90.0 <= tilt_min_deg <= 90.0 and -90.0 <= tilt_max_deg <= 90.0):
        raise InputError(f"tilt range {tilt_min_deg}..{tilt_max_deg}° goes beyond ±90°; "
                         "use tilt_min_deg >= -90 and tilt_max_deg <= 90")
    if step_deg <= 0:
        raise InputError(f"tilt_step_deg must be > 0 (got {step_deg})")
    if tilt_max_deg < tilt_min_deg:
        raise InputError(f"tilt_max_deg {tilt_max_deg} < tilt_min_deg {tilt_min_deg}; swap them")
    n = int(np.floor((tilt_max_deg - tilt_min_deg) / step_deg + 1e-6)) + 1
    angles = tilt_min_deg + step_deg * np.arange(n)
    if tilt_min_deg == -90.0 and tilt_max_deg == 90.0 and n > 1 and np.isclose(angles[-1], 90.0):
        angles = angles[:-1]  # +90 is the same projection as -90
    return angles.astype(np.float64)


def acquisition_order(angles_deg: np.ndarray, scheme: str, start_deg: float = 0.0) -> np.ndarray:
    """0-based acquisition index of each view (``angles_deg`` ascending).

    sequential: from the lowest to the highest angle; bidirectional: from the view
    closest to ``start_deg`` up to the highest, then from the next below the start
    down to the lowest; dose_symmetric (Hagen et al. 2017): 0°, +1 step, then alternating
    groups of two views on the negative and positive side, moving outwards
    (0, +3, -3, -6, +6, +9, -9, ... for 3° steps).

    Parameters
    ----------
    angles_deg : numpy.ndarray
        (n,) the nominal tilt angles in degrees, ascending.
    scheme : str
        ``sequential``, ``bidirectional`` or ``dose_symmetric``.
    start_deg : float
        The first tilt of the bidirectional scheme, in degrees.

    Returns
    -------
    numpy.ndarray
        (n,) int64: the acquisition index of each view (a permutation of ``0 .. n-1``).

    Raises
    ------
    InputError
        On an unknown scheme.
    """
    n = len(angles_deg)
    a = np.asarray(angles_deg, dtype=float)
    if scheme == "sequential":
        seq = list(range(n))
    elif scheme == "bidirectional":
        s = int(np.argmin(np.abs(a - start_deg)))
        seq = list(range(s, n)) + list(range(s - 1, -1, -1))
    elif scheme == "dose_symmetric":
        s = int(np.argmin(np.abs(a)))
        pos = list(range(s + 1, n))
        neg = list(range(s - 1, -1, -1))
        seq = [s] + pos[:1]
        del pos[:1]
        side = 1  # then groups of two, negative side first: 0, +1, -1, -2, +2, +3, -3, ...
        while pos or neg:
            src = (pos, neg)[side] if (pos, neg)[side] else (neg, pos)[side]
            seq.extend(src[:2])
            del src[:2]
            side = 1 - side
    else:
        raise InputError(f"unknown tilt scheme {scheme!r}; use sequential, bidirectional or dose_symmetric")
    order = np.empty(n, dtype=np.int64)
    order[np.asarray(seq)] = np.arange(n)
    return order


def sinusoidal_shifts(true_deg: np.ndarray, mean_px: float, max_px: float,
                      rng: np.random.Generator) -> np.ndarray:
    """PolNet's misalignment model: a random in-plane shift per view, larger at high tilt.

    Magnitude ``mean + (max - mean) * |sin(theta)| / max|sin(theta)|`` (pixels), direction uniform.
    Returns ``[n, 2]`` (shift_x, shift_y).

    Parameters
    ----------
    true_deg : numpy.ndarray
        (n,) the true tilt angle of each view in degrees.
    mean_px, max_px : float
        The shift magnitude in pixels at 0° and at the largest tilt; ``max_px <= 0`` = no shifts.
    rng : numpy.random.Generator
        The source of the directions.

    Returns
    -------
    numpy.ndarray
        (n, 2) the shift ``(x, y)`` of each view in pixels.
    """
    n = len(true_deg)
    if max_px <= 0:
        return np.zeros((n, 2))
    s = np.abs(np.sin(np.deg2rad(true_deg)))
    smax = s.max() if s.max() > 0 else 1.0
    magnitude = mean_px + (max_px - mean_px) * s / smax
    direction = rng.uniform(0.0, 2.0 * np.pi, n)
    return np.stack([magnitude * np.cos(direction), magnitude * np.sin(direction)], axis=1)


def make_tilt_series(acq: AcquisitionParams, rng: np.random.Generator) -> TiltSeries:
    """Build the tilt series of :class:`~generator.microscope.params.AcquisitionParams` ``acq``.

    Parameters
    ----------
    acq : AcquisitionParams
        Tilt range and step (degrees), scheme, tilt-angle error (degrees), shifts (pixels) and
        total dose (e/Å²).
    rng : numpy.random.Generator
        The source of the tilt-angle errors and the shifts.

    Returns
    -------
    TiltSeries
        Per view (ascending nominal angle): nominal and true angles (degrees), acquisition order,
        dose and accumulated dose (e/Å²), shifts ``(n, 2)`` (pixels).
    """
    nominal = tilt_angles(acq.tilt_min_deg, acq.tilt_max_deg, acq.tilt_step_deg)
    order = acquisition_order(nominal, acq.scheme, acq.bidirectional_start_deg)
    errors = rng.normal(0.0, acq.tilt_angle_error_deg, len(nominal)) if acq.tilt_angle_error_deg > 0 \
        else np.zeros(len(nominal))
    true = nominal + errors
    dose = np.full(len(nominal), acq.dose_total_e_per_a2 / len(nominal))
    accumulated = order * dose  # equal dose per view: views recorded before this one
    shifts = sinusoidal_shifts(true, acq.shift_mean_px, acq.shift_max_px, rng)
    return TiltSeries(nominal, true, order, dose, accumulated.astype(float), shifts)


def angular_weights(angles_deg: np.ndarray) -> np.ndarray:
    """Angular interval (radians) each view stands for: half the gap to each neighbour.

    The end views get the same half-gap on their outer side; a full ±90° series
    with step d gives d for every view (the weights sum to π).

    Parameters
    ----------
    angles_deg : numpy.ndarray
        (n,) the tilt angles in degrees, in any order.

    Returns
    -------
    numpy.ndarray
        (n,) the interval of each view in rad, in the order of ``angles_deg``.
    """
    a = np.deg2rad(np.sort(np.asarray(angles_deg, dtype=float)))
    if len(a) == 1:
        return np.array([np.pi])
    gaps = np.diff(a)
    w = np.empty(len(a))
    w[1:-1] = 0.5 * (gaps[:-1] + gaps[1:])
    w[0] = gaps[0]
    w[-1] = gaps[-1]
    order = np.argsort(np.asarray(angles_deg, dtype=float))
    out = np.empty_like(w)
    out[order] = w
    return out
