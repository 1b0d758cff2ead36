"""Approximately uniform sampling of SO(3) from an angular step.

A rotation ``R = Rz(phi) Rx(theta) Rz(psi)`` (tomobench ZXZ) is split into the
direction of the template's z axis, ``R e_z`` (set by ``phi, theta``), and an
in-plane turn ``psi`` about that axis. Directions come from a Fibonacci spiral
with one point per ``(1.2 step)^2`` steradians; ``psi`` runs over ``[0, 360 / n)``
in steps of at most ``step``, where ``n`` is the order of the template's
rotational symmetry about its own z axis (``R Rz(360/n)`` gives the same
particle). The angular step is a covering radius: every rotation lies within
one ``step`` of a sample (tested for 30 and 20 degrees).
"""

from __future__ import annotations

import math

import numpy as np

from tomobench.euler import euler_to_matrix

DIRECTION_SPACING = 1.2   # direction spacing / step: the largest that keeps the covering radius below step


def n_directions(step_deg: float) -> int:
    """Fibonacci directions for an angular step: ``ceil(4 pi / (1.2 step)^2)`` (step in radians)."""
    return max(1, int(math.ceil(4.0 * math.pi / (DIRECTION_SPACING * math.radians(step_deg)) ** 2)))


def n_inplane(step_deg: float, z_symmetry: int = 1) -> int:
    """In-plane angles over ``360 / z_symmetry`` degrees: ``ceil(360 / (z_symmetry * step))``."""
    return max(1, int(math.ceil(360.0 / (z_symmetry * step_deg) - 1e-9)))


def rotation_count(step_deg: float, z_symmetry: int = 1) -> int:
    """Number of rotations :func:`sample_rotations` returns."""
    return n_directions(step_deg) * n_inplane(step_deg, z_symmetry)


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` unit vectors ``(x, y, z)`` spread evenly over the sphere (golden-angle spiral)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    azimuth = math.pi * (3.0 - math.sqrt(5.0)) * i
    return np.stack([r * np.cos(azimuth), r * np.sin(azimuth), z], axis=1)


def sample_angles(step_deg: float, z_symmetry: int = 1) -> np.ndarray:
    """ZXZ Euler angles ``(n, 3)`` in degrees of an approximately uniform SO(3) grid."""
    if not 0 < step_deg <= 180:
        raise ValueError(f"angular step must be in (0, 180] degrees, got {step_deg}")
    if z_symmetry < 1:
        raise ValueError("z_symmetry is a rotation order >= 1")
    d = fibonacci_directions(n_directions(step_deg))
    # R e_z = (sin(theta) sin(phi), -sin(theta) cos(phi), cos(theta)) for R = Rz(phi) Rx(theta) Rz(psi).
    theta = np.degrees(np.arccos(np.clip(d[:, 2], -1.0, 1.0)))
    phi = np.degrees(np.arctan2(d[:, 0], -d[:, 1]))
    psi = np.arange(n_inplane(step_deg, z_symmetry)) * (360.0 / z_symmetry / n_inplane(step_deg, z_symmetry))
    grid = np.stack([np.repeat(phi, len(psi)), np.repeat(theta, len(psi)), np.tile(psi, len(phi))], axis=1)
    return grid


def sample_rotations(step_deg: float, z_symmetry: int = 1) -> np.ndarray:
    """Rotation matrices ``(n, 3, 3)`` (acting on ``(x, y, z)``) of :func:`sample_angles`."""
    a = sample_angles(step_deg, z_symmetry)
    return euler_to_matrix(a[:, 0], a[:, 1], a[:, 2]).reshape(-1, 3, 3)


def angular_distance_deg(a: np.ndarray, b: np.ndarray, z_symmetry: int = 1) -> np.ndarray:
    """Geodesic angle (degrees) between rotations ``a`` (n,3,3) and ``b`` (m,3,3): an (n, m) matrix.

    With ``z_symmetry`` n, ``b`` is compared with every ``b Rz(k 360/n)`` and the smallest angle kept.
    """
    a = np.asarray(a).reshape(-1, 3, 3)
    b = np.asarray(b).reshape(-1, 3, 3)
    best = None
    for k in range(z_symmetry):
        bk = b @ euler_to_matrix(0.0, 0.0, 360.0 * k / z_symmetry)
        trace = np.einsum("nij,mij->nm", a, bk)
        angle = np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))
        best = angle if best is None else np.minimum(best, angle)
    return best
