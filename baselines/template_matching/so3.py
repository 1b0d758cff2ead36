"""Approximately uniform sampling of SO(3) from an angular step, reduced by a point group.

A rotation ``R = Rz(phi) Rx(theta) Rz(psi)`` (tomobench ZXZ) is split into the
direction of the template's z axis, ``R e_z`` (set by ``phi, theta``), and an
in-plane turn ``psi`` about that axis. Directions: the upper half ``H`` of a
Fibonacci spiral with one point per ``(1.2 step)^2`` steradians, and its
antipodes ``-H`` (so the set is closed under ``d -> -d``). ``psi`` runs over
``[0, 360 / n)`` in steps of at most ``step``.

Symmetry (the template's point group, axes in the template frame): a particle
with symmetry ``G`` looks the same under ``R`` and ``R g`` for every ``g`` in ``G``,
so only ``SO(3) / G`` needs searching.

* ``Cn`` (n-fold axis along z): ``R Rz(360/n) ~ R``: ``psi`` in ``[0, 360/n)``.
* ``Dn`` (``Cn`` plus a 2-fold axis along x): ``R Rx(180)`` has the direction
  ``-R e_z`` and ``psi -> -psi - 180``; so directions ``H`` only, with an even
  ``psi`` count when ``n`` is odd (the ``psi`` grid is then closed under the map).

Every reduced sample is a sample of the full grid or the image of one under
``G``, so the reduced grid has the full grid's covering radius modulo ``G``.

Axes elsewhere (a structure whose symmetry axis is not the template's z):
``PointGroup(..., alignment=A)`` with ``A`` the rotation taking the canonical axes
to the template's (``A e_z`` the n-fold axis, ``A e_x`` a 2-fold of Dn). Its
elements in the template frame are ``A g A^T`` and its grid is ``Q A^T`` for the
canonical grid ``Q``: turning the template by ``Q A^T`` is turning the *aligned*
template (the one turned by ``A^T``, axis on z) by ``Q``, so the search runs the
reduced grid in the aligned frame while every rotation it returns is already the
pose of the unrotated template. Right multiplication by a fixed rotation is an
isometry of SO(3), so the covering radius is unchanged.
The angular step is that covering radius: every rotation lies within one
``step`` of a sample (modulo ``G``; tested for C1, C3, D2 and D7 with random probes).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from tomobench.euler import euler_to_matrix

DIRECTION_SPACING = 1.2   # direction spacing / step: the largest that keeps the covering radius below step
_X_FLIP = np.diag([1.0, -1.0, -1.0])   # 180 degrees about x


@dataclass(frozen=True)
class PointGroup:
    """A point group of a template: ``C`` (cyclic, axis z) or ``D`` (dihedral, extra 2-fold along x).

    ``alignment`` (None: identity) is the rotation ``A`` (row-major 9-tuple, acting on
    ``(x, y, z)``) that takes those canonical axes to the template's: the n-fold axis is
    ``A e_z``, the 2-fold of Dn ``A e_x`` (see the module docstring).
    """

    kind: str = "C"
    order: int = 1
    alignment: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.kind not in ("C", "D") or int(self.order) < 1:
            raise ValueError(f"point group must be Cn or Dn with n >= 1, got {self.kind}{self.order}")
        if self.alignment is not None:
            a = np.asarray(self.alignment, dtype=float)
            if a.shape != (9,) or not np.allclose(a.reshape(3, 3) @ a.reshape(3, 3).T, np.eye(3), atol=1e-6) \
                    or np.linalg.det(a.reshape(3, 3)) < 0:
                raise ValueError(f"alignment must be a proper rotation as 9 row-major numbers, got {self.alignment}")

    @classmethod
    def aligned(cls, kind: str, order: int, matrix: np.ndarray) -> "PointGroup":
        """``kind``/``order`` about the axes of ``matrix`` ``(3, 3)`` (re-orthonormalised)."""
        u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=float))
        a = u @ vt
        return cls(kind, int(order), tuple(float(v) for v in a.ravel()))

    @property
    def alignment_matrix(self) -> np.ndarray:
        """``A`` ``(3, 3)``: canonical axes to template axes (identity without alignment)."""
        return np.eye(3) if self.alignment is None else np.asarray(self.alignment, dtype=float).reshape(3, 3)

    @property
    def canonical(self) -> "PointGroup":
        """The same group with its axes on z (and x): no alignment."""
        return PointGroup(self.kind, self.order)

    @property
    def axis(self) -> np.ndarray:
        """The n-fold axis ``(x, y, z)`` in the template frame (``A e_z``)."""
        return self.alignment_matrix[:, 2].copy()

    @classmethod
    def parse(cls, value: "str | int | PointGroup") -> "PointGroup":
        """``"C6"``, ``"d7"``, an int (Cn) or a PointGroup."""
        if isinstance(value, PointGroup):
            return value
        if isinstance(value, (int, np.integer)):
            return cls("C", int(value))
        match = re.fullmatch(r"\s*([CcDd])\s*(\d+)\s*", str(value))
        if not match:
            raise ValueError(f"point group must look like C6 or D7, got {value!r}")
        return cls(match.group(1).upper(), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.kind}{self.order}"

    def describe(self) -> str:
        """``D4`` or, with an alignment, ``D4 (axis x, y, z)``."""
        if self.alignment is None:
            return str(self)
        return f"{self} (axis {', '.join(f'{v:+.3f}' for v in self.axis)})"

    @property
    def size(self) -> int:
        """Number of group elements."""
        return self.order * (2 if self.kind == "D" else 1)

    def matrices(self) -> np.ndarray:
        """The group's rotations ``(size, 3, 3)`` in the template frame, ``A g A^T`` (identity first)."""
        cyc = euler_to_matrix(0.0, 0.0, 360.0 * np.arange(self.order) / self.order).reshape(-1, 3, 3)
        canonical = np.concatenate([cyc, cyc @ _X_FLIP]) if self.kind == "D" else cyc
        a = self.alignment_matrix
        return canonical if self.alignment is None else a @ canonical @ a.T


def n_directions(step_deg: float) -> int:
    """Directions for an angular step: ``ceil(4 pi / (1.2 step)^2)`` rounded up to even (step in radians)."""
    n = max(2, int(math.ceil(4.0 * math.pi / (DIRECTION_SPACING * math.radians(step_deg)) ** 2)))
    return n + (n % 2)


def n_inplane(step_deg: float, z_symmetry: int = 1, dihedral: bool = False) -> int:
    """In-plane angles over ``360 / z_symmetry`` degrees: ``ceil(360 / (z_symmetry * step))``, even for odd Dn."""
    m = max(1, int(math.ceil(360.0 / (z_symmetry * step_deg) - 1e-9)))
    if dihedral and z_symmetry % 2 == 1 and m % 2 == 1:
        m += 1   # psi -> -psi - 180 must map the grid onto itself
    return m


def rotation_count(step_deg: float, symmetry: "str | int | PointGroup" = 1) -> int:
    """Number of rotations :func:`sample_rotations` returns."""
    g = PointGroup.parse(symmetry)
    dirs = n_directions(step_deg) // (2 if g.kind == "D" else 1)
    return dirs * n_inplane(step_deg, g.order, g.kind == "D")


def fibonacci_directions(n: int) -> np.ndarray:
    """``n`` unit vectors ``(x, y, z)`` spread evenly over the sphere (golden-angle spiral)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
    azimuth = math.pi * (3.0 - math.sqrt(5.0)) * i
    return np.stack([r * np.cos(azimuth), r * np.sin(azimuth), z], axis=1)


def sample_directions(step_deg: float, upper_only: bool = False) -> np.ndarray:
    """Directions ``H`` (the spiral's z > 0 half) and, unless ``upper_only``, their antipodes ``-H``."""
    upper = fibonacci_directions(n_directions(step_deg))[: n_directions(step_deg) // 2]
    return upper if upper_only else np.concatenate([upper, -upper])


def sample_angles(step_deg: float, symmetry: "str | int | PointGroup" = 1) -> np.ndarray:
    """ZXZ Euler angles ``(n, 3)`` in degrees of an approximately uniform grid of ``SO(3) / G``."""
    if not 0 < step_deg <= 180:
        raise ValueError(f"angular step must be in (0, 180] degrees, got {step_deg}")
    g = PointGroup.parse(symmetry)
    d = sample_directions(step_deg, upper_only=g.kind == "D")
    # R e_z = (sin(theta) sin(phi), -sin(theta) cos(phi), cos(theta)) for R = Rz(phi) Rx(theta) Rz(psi).
    theta = np.degrees(np.arccos(np.clip(d[:, 2], -1.0, 1.0)))
    phi = np.degrees(np.arctan2(d[:, 0], -d[:, 1]))
    m = n_inplane(step_deg, g.order, g.kind == "D")
    psi = np.arange(m) * (360.0 / g.order / m)
    return np.stack([np.repeat(phi, len(psi)), np.repeat(theta, len(psi)), np.tile(psi, len(phi))], axis=1)


def sample_rotations(step_deg: float, symmetry: "str | int | PointGroup" = 1) -> np.ndarray:
    """Rotation matrices ``(n, 3, 3)`` (acting on ``(x, y, z)``) of :func:`sample_angles`, times ``A^T``.

    ``A`` is the group's alignment (identity when it has none): the canonical grid ``Q`` of
    ``SO(3) / G`` becomes ``Q A^T``, poses of the unrotated template (module docstring).
    """
    g = PointGroup.parse(symmetry)
    a = sample_angles(step_deg, g)
    q = euler_to_matrix(a[:, 0], a[:, 1], a[:, 2]).reshape(-1, 3, 3)
    return q if g.alignment is None else q @ g.alignment_matrix.T


def angular_distance_deg(a: np.ndarray, b: np.ndarray, symmetry: "str | int | PointGroup" = 1) -> np.ndarray:
    """Geodesic angle (degrees) between rotations ``a`` (n,3,3) and ``b`` (m,3,3): an (n, m) matrix.

    With a symmetry ``G``, ``b`` is compared with every ``b g`` (g in G) and the smallest angle kept.
    """
    a = np.asarray(a).reshape(-1, 3, 3)
    b = np.asarray(b).reshape(-1, 3, 3)
    group = PointGroup.parse(symmetry).matrices()   # never empty: the identity comes first
    best = _geodesic_deg(a, b @ group[0])
    for g in group[1:]:
        best = np.minimum(best, _geodesic_deg(a, b @ g))
    return best


def _geodesic_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Geodesic angle (degrees) between each rotation of ``a`` (n, 3, 3) and of ``b`` (m, 3, 3): (n, m)."""
    trace = np.einsum("nij,mij->nm", a, b)
    return np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))



def coarse_step_deg(step_deg: float, min_step_deg: float, symmetry: "str | int | PointGroup",
                    min_rotations: int | None, decrement_deg: float = 0.5) -> float:
    """A class's coarse step: the largest with at least ``min_rotations`` rotations for ``symmetry``.

    Steps from ``step_deg`` down to ``min_step_deg`` by ``decrement_deg``; ``min_step_deg`` when none
    has that many.

    Highly symmetric classes have few rotations at a coarse step (D7: 32 at 30 degrees), and a binned
    scan that coarse loses them; a finer step for them alone costs little. ``min_rotations`` None
    (or a ``step_deg`` already at or below ``min_step_deg``) returns ``step_deg``.
    """
    if min_rotations is None or step_deg <= min_step_deg:
        return float(step_deg)
    if decrement_deg <= 0:
        raise ValueError(f"decrement_deg must be > 0, got {decrement_deg}")
    step = float(step_deg)
    while step > min_step_deg:
        if rotation_count(step, symmetry) >= min_rotations:
            return step
        step = round(step - decrement_deg, 6)
    return float(min_step_deg)
