"""Point-group detection in the template's own frame: Cn and Dn about any axes through the box centre.

A real structure's symmetry axis is rarely the template's z (a PDB entry is in its
crystal's frame). Every proper rotation axis of order n >= 2 of a density is a
principal axis of its inertia tensor (the tensor commutes with the rotation), so
the candidate n-fold axes are the three eigenvectors of the inertia tensor of the
template's positive density about the box centre (the centre the search turns the
template about). Each candidate is tested by rotated self-correlation, as the
z-only rule did: order ``n`` holds when the template turned by 360/n about the axis
correlates with itself at ``threshold`` or more *and* at least ``contrast`` better
than turned by 180/n (near-cylindrical shapes pass the first test at every order), and
every turn by 360 k/n (k <= n/2; the others are their inverses) passes the first test too.
The largest order over the three axes wins. For ``n >= 2`` the 2-folds of Dn lie in
the plane perpendicular to the axis at an unknown angle: 180-degree turns about
directions in that plane are searched over ``[0, 180/n)`` (a coarse pass with
linear interpolation, then a finer one with cubic splines around the best).

The result is a :class:`~.so3.PointGroup` with an ``alignment``: the rotation
``A`` taking the canonical axes (n-fold on z, 2-fold on x) to the detected ones,
so :func:`~.so3.sample_rotations` returns poses of the unrotated template.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from baselines.template_matching import so3
from baselines.template_matching.templates import spherical_mask
from tomobench.rotate import rotate_volume
from tomobench.volumes import box_centre


@dataclass(frozen=True)
class SymmetrySettings:
    """Thresholds of :func:`detect_symmetry` (correlations of the 1-voxel-smoothed template)."""

    max_order: int = 8
    threshold: float = 0.985        # an n-fold turn must correlate at least this well
    contrast: float = 0.01          # ... and this much better than the turn by half its angle
    flip_threshold: float = 0.99    # a 2-fold of Dn (a C5 ring of lumps passed 0.985 as D5)
    flip_coarse_deg: float = 3.0    # in-plane step of the 2-fold search's first pass
    flip_fine_deg: float = 0.25     # ... and of its second pass (within one coarse step of the best)
    smooth_vox: float = 1.0         # Gaussian sigma before any test (the voxel grid's harmonics weigh less)
    axis_coarse_deg: float = 6.0    # spacing of the axis search over the hemisphere (template subsampled 2x)
    hemisphere_starts: int = 4      # best directions of that search climbed from (beside the principal axes)
    coarse_margin: float = 0.1      # climb from a start only if its correlation is within this of threshold
    order_tolerance: float = 0.005  # a passing multiple of the best order this close to its correlation wins
    same_axis_deg: float = 5.0      # orders found on axes this close are orders of one axis


def self_correlation(template: np.ndarray, matrix: np.ndarray, order: int = 3) -> float:
    """Normalised correlation of ``template`` with itself turned by ``matrix`` ``(3, 3)`` (xyz) about the box centre."""
    turned = rotate_volume(template, matrix, order=order)
    norm = float(np.sqrt((template * template).sum() * (turned * turned).sum()))
    return float((template * turned).sum()) / norm if norm else 0.0


def axis_rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotation ``(3, 3)`` by ``angle_deg`` about the unit vector ``axis`` ``(x, y, z)`` (Rodrigues)."""
    u = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0.0, -u[2], u[1]], [u[2], 0.0, -u[0]], [-u[1], u[0], 0.0]])
    a = np.radians(angle_deg)
    return np.eye(3) + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)


def frame_with_axis(axis: np.ndarray, x_direction: np.ndarray | None = None) -> np.ndarray:
    """A proper rotation ``A`` ``(3, 3)`` with ``A e_z = axis``.

    ``A e_x`` is along the part of ``x_direction`` perpendicular to ``axis`` (any perpendicular when None).
    """
    e3 = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    basis = np.eye(3)[int(np.argmin(np.abs(e3)))]      # never parallel to e3
    hint = basis if x_direction is None else np.asarray(x_direction, dtype=float)
    e1 = hint - (hint @ e3) * e3
    if np.linalg.norm(e1) < 1e-8:                      # x_direction along the axis: any perpendicular
        e1 = basis - (basis @ e3) * e3
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(e3, e1), e3], axis=1)


def density_weights(template: np.ndarray) -> np.ndarray:
    """The template's positive density ``[z, y, x]``, the inertia tensor's weights.

    Minus its border median, the dominant sign made positive (CTF-filtered templates of dark
    data are negative), clipped at 0, inside the inscribed ball.
    """
    t = np.asarray(template, dtype=float)
    border = np.concatenate([t[[0, -1]].ravel(), t[:, [0, -1]].ravel(), t[:, :, [0, -1]].ravel()])
    t = t - np.median(border)
    if -t.min() > t.max():
        t = -t
    c = box_centre(t.shape)
    z, y, x = np.ogrid[tuple(slice(0, s) for s in t.shape)]
    inside = (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 <= (min(t.shape) / 2.0) ** 2
    return np.clip(t, 0.0, None) * inside


def principal_axes(template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(3,)`` and unit eigenvectors (columns, ``(x, y, z)``) of the inertia tensor.

    The tensor of :func:`density_weights` about the box centre; eigenvalues ascending, in
    voxel^2 x density.
    """
    w = density_weights(template)
    c = box_centre(w.shape)
    zz, yy, xx = np.meshgrid(*(np.arange(s) - cc for s, cc in zip(w.shape, c)), indexing="ij")
    r = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1)
    wr = w.ravel()
    second = (r * wr[:, None]).T @ r                       # sum w r r^T
    inertia = np.trace(second) * np.eye(3) - second
    return np.linalg.eigh(inertia)


def _half(template: np.ndarray) -> np.ndarray:
    """Every second voxel from index 0: the axis search's cheap template.

    The box centre ``n // 2`` stays a voxel centre (block means would shift it by half a voxel
    for odd ``n``, and turns about the wrong centre ruin the correlation); the template is
    already smoothed, so the subsampling aliases little.
    """
    return np.ascontiguousarray(template[::2, ::2, ::2])


def hemisphere(spacing_deg: float) -> np.ndarray:
    """Unit vectors ``(m, 3)`` ``(x, y, z)`` with z >= 0, about ``spacing_deg`` apart (Fibonacci spiral)."""
    n = max(8, int(np.ceil(4.0 * np.pi / np.radians(spacing_deg) ** 2)))
    d = so3.fibonacci_directions(n)
    return d[d[:, 2] >= 0]


def climb_axis(template: np.ndarray, axis: np.ndarray, angle_deg: float, *, step_deg: float = 4.0,
               min_step_deg: float = 0.25) -> tuple[float, np.ndarray]:
    """(correlation, axis) after a pattern search of the turn by ``angle_deg`` about a direction.

    From ``axis``, the four directions ``step_deg`` away (two perpendicular great circles) are
    tried; the search moves to the best while it improves, else halves the step, down to
    ``min_step_deg``. Linear interpolation while climbing, cubic splines for the returned value.
    """
    u = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    value = self_correlation(template, axis_rotation(u, angle_deg), order=1)
    step = step_deg
    while step >= min_step_deg:
        frame = frame_with_axis(u)
        a = np.radians(step)
        trial = [np.cos(a) * u + np.sin(a) * sgn * frame[:, k] for k in (0, 1) for sgn in (1.0, -1.0)]
        values = [self_correlation(template, axis_rotation(v, angle_deg), order=1) for v in trial]
        best = int(np.argmax(values))
        if values[best] > value:
            u, value = trial[best] / np.linalg.norm(trial[best]), values[best]
        else:
            step /= 2.0
    return self_correlation(template, axis_rotation(u, angle_deg)), u


def find_axis(template: np.ndarray, order: int, candidates: np.ndarray,
              settings: SymmetrySettings = SymmetrySettings()) -> tuple[float, np.ndarray]:
    """(correlation, axis ``(x, y, z)``) of the best ``order``-fold turn.

    Start points: ``candidates`` ``(k, 3)`` (the principal axes) and the best ``hemisphere_starts``
    directions of :func:`hemisphere` (linear interpolation on the template subsampled 2x: a principal
    axis of a nearly spherical inertia tensor is ill-defined). Each start whose correlation is within
    ``coarse_margin`` of ``threshold`` is refined by :func:`climb_axis`.
    """
    angle = 360.0 / order
    small = _half(template)
    grid = hemisphere(settings.axis_coarse_deg)
    coarse = np.array([self_correlation(small, axis_rotation(u, angle), order=1) for u in grid])
    starts = np.concatenate([np.asarray(candidates, dtype=float).reshape(-1, 3),
                             grid[np.argsort(-coarse)[: settings.hemisphere_starts]]])
    best_value, best_axis = -1.0, starts[0]
    for u in starts:
        if self_correlation(template, axis_rotation(u, angle), order=1) < settings.threshold - settings.coarse_margin:
            continue
        value, axis = climb_axis(template, u, angle, step_deg=settings.axis_coarse_deg / 2)
        if value > best_value:
            best_value, best_axis = value, axis
    return best_value, best_axis


def axis_order(template: np.ndarray, candidates: np.ndarray,
               settings: SymmetrySettings = SymmetrySettings()) -> tuple[int, np.ndarray | None]:
    """The order ``n`` in 2..``max_order`` of the best n-fold axis, and that axis; ``(1, None)`` if none.

    Each order's axis is :func:`find_axis`'s; it passes with the module docstring's three tests.
    Passing orders are grouped by axis (within ``same_axis_deg``). On each axis the best-correlated
    order wins, replaced by a multiple of it that passes within ``order_tolerance`` of that
    correlation: a true 6-fold passes as 2 and 6 alike (6 wins), while a nearly round ring of 7
    also passes as 8, less well (7 wins: 8 is no multiple of it). The axis of largest order wins
    (the 2-folds of Dn are other axes).
    ``template`` should be the smoothed, masked one (:func:`detect_symmetry`).
    """
    passing: list[tuple[int, float, np.ndarray]] = []
    for n in range(settings.max_order, 1, -1):
        full, axis = find_axis(template, n, candidates, settings)
        if full < settings.threshold:
            continue
        half = self_correlation(template, axis_rotation(axis, 180.0 / n))
        if full - half < settings.contrast:
            continue
        # every power of a true n-fold is a symmetry too (a smooth, nearly round shape can pass
        # the first two tests at an order it does not have, e.g. 72 degrees for a 4-fold)
        powers = [self_correlation(template, axis_rotation(axis, 360.0 * k / n)) for k in range(2, n // 2 + 1)]
        if min(powers, default=1.0) >= settings.threshold:
            passing.append((n, full, axis))
    if not passing:
        return 1, None
    best_n, best_axis = 1, None
    for _, _, axis in passing:     # per axis (orders found on parallel axes), then the largest order
        same = [p for p in passing if abs(float(p[2] @ axis)) >= np.cos(np.radians(settings.same_axis_deg))]
        n, top, chosen = max(same, key=lambda p: p[1])
        for m, full, other in sorted(same, key=lambda p: p[0]):
            if m > n and m % n == 0 and full >= top - settings.order_tolerance:
                n, chosen = m, other
        if n > best_n:
            best_n, best_axis = n, chosen
    return best_n, best_axis


def best_two_fold(template: np.ndarray, axis: np.ndarray, order: int,
                  settings: SymmetrySettings = SymmetrySettings()) -> tuple[float, np.ndarray]:
    """(correlation, direction ``(x, y, z)``) of the best 2-fold perpendicular to ``axis``.

    180-degree turns about directions in the plane perpendicular to ``axis`` are searched over
    ``[0, 180 / order)`` degrees (two passes, module docstring).
    """
    frame = frame_with_axis(axis)

    def direction(angle_deg: float) -> np.ndarray:
        a = np.radians(angle_deg)
        return np.cos(a) * frame[:, 0] + np.sin(a) * frame[:, 1]

    span = 180.0 / max(order, 1)
    coarse = np.arange(0.0, span, settings.flip_coarse_deg)
    values = [self_correlation(template, axis_rotation(direction(a), 180.0), order=1) for a in coarse]
    centre = float(coarse[int(np.argmax(values))])
    fine = centre + np.arange(-settings.flip_coarse_deg, settings.flip_coarse_deg + 1e-9, settings.flip_fine_deg)
    values = [self_correlation(template, axis_rotation(direction(a), 180.0)) for a in fine]
    best = int(np.argmax(values))
    return float(values[best]), direction(float(fine[best]))


def detection_template(template: np.ndarray, settings: SymmetrySettings = SymmetrySettings()) -> np.ndarray:
    """The template every test correlates: smoothed by ``smooth_vox``, mean subtracted, inside its inscribed ball.

    The ball (soft edge 1 voxel) makes turns lose nothing out of the box (tight boxes).
    """
    t = ndimage.gaussian_filter(np.asarray(template, dtype=np.float32), settings.smooth_vox)
    return ((t - t.mean()) * spherical_mask(t.shape[0], t.shape[0] / 2.0 - 1.5, 1.0)).astype(np.float32)


def detect_symmetry(template: np.ndarray, settings: SymmetrySettings = SymmetrySettings()) -> so3.PointGroup:
    """The point group (``Cn`` or ``Dn``) of a template about its box centre, with its axes' alignment.

    ``C1`` (no alignment) when no order 2..``max_order`` holds (module docstring).

    Parameters
    ----------
    template : numpy.ndarray
        ``(n, n, n)`` density (any sign, any offset), centred in its box.
    settings : SymmetrySettings
        Thresholds.

    Returns
    -------
    so3.PointGroup
        ``kind``, ``order`` and ``alignment`` (``A e_z`` the n-fold axis, ``A e_x`` the 2-fold of Dn).
    """
    t = detection_template(template, settings)
    _, axes = principal_axes(template)
    n, axis = axis_order(t, axes.T, settings)
    if axis is None:
        return so3.PointGroup("C", 1)
    corr, two_fold = best_two_fold(t, axis, n, settings)
    dihedral = corr >= settings.flip_threshold
    frame = frame_with_axis(axis, two_fold if dihedral else None)
    return so3.PointGroup.aligned("D" if dihedral else "C", n, frame)
