"""Filaments (PolNet): microtubules and actin-like helices along worm-like chains.

The centreline is a discrete worm-like chain: unit steps of ``d_M`` whose
tangent turns by a random angle with ``<cos> = exp(-d_M / p)`` (``p`` the
persistence length), a normal carried along by parallel transport. Structural
units (PolNet): a microtubule unit is 13 spheres of 40 Å radius on a 125 Å ring
every 60 Å; an actin-like unit is two spheres of 25 Å radius 50 Å apart, turned
by 2 pi / 12.5 per 60 Å unit. A filament grows from a random point in a random
direction until its drawn length, leaving the sample or touching something
placed before: growth stops there, and a filament shorter than ``min_length_a``
counts as a failed trial. Density: the union of smooth spheres times the
relative density; mask: voxel centres inside a sphere.
"""

from __future__ import annotations

import numpy as np

from generator.scene.canvas import Canvas
from generator.scene.geometry import frame_from_z, random_unit, render_spheres
from generator.scene.params import FilamentParams
from tomobench.euler import matrix_to_euler

UNITS_A = {
    # name: (sphere radius, ring radius, spheres per unit, unit spacing d_M, twist per unit)
    "microtubule": (40.0, 125.0, 13, 60.0, 0.0),
    "actin": (25.0, 25.0, 2, 60.0, 2 * np.pi / 12.5),
}


def centreline(start: np.ndarray, direction: np.ndarray, n_units: int, step: float, persistence: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, tangents and normals of a worm-like chain (same length unit for all inputs)."""
    t = direction / np.linalg.norm(direction)
    nrm = frame_from_z(t)[:, 0]
    pts, tans, nrms = [start.astype(float)], [t], [nrm]
    sd = np.sqrt(step / persistence)
    for _ in range(n_units - 1):
        b = np.cross(t, nrm)
        t_new = t + sd * (rng.normal() * nrm + rng.normal() * b)
        t_new /= np.linalg.norm(t_new)
        nrm = nrm - np.dot(nrm, t_new) * t_new
        nrm /= np.linalg.norm(nrm)
        pts.append(pts[-1] + step * t_new)
        t = t_new
        tans.append(t)
        nrms.append(nrm)
    return np.array(pts), np.array(tans), np.array(nrms)


def unit_spheres(kind: str, point, tangent, normal, index: int, voxel_size_a: float, phase: float) -> np.ndarray:
    """Sphere centres (voxels) of structural unit ``index``."""
    _, ring, k, _, twist = UNITS_A[kind]
    binormal = np.cross(tangent, normal)
    angles = phase + index * twist + 2 * np.pi * np.arange(k) / k
    offsets = (np.cos(angles)[:, None] * normal + np.sin(angles)[:, None] * binormal) * ring / voxel_size_a
    return point + offsets


def _unit_blocked(canvas: Canvas, centres: np.ndarray, radius: float) -> bool:
    """True if a unit's spheres leave the sample or touch an owned voxel."""
    lo_lim = np.array([0, 0, canvas.slab_z[0]]) - 0.5
    hi_lim = np.array([canvas.shape_zyx[2], canvas.shape_zyx[1], canvas.slab_z[1]]) - 0.5
    if (centres - radius < lo_lim).any() or (centres + radius > hi_lim).any():
        return True
    prof, origin = render_spheres(centres, radius, margin=0.0)
    mask = prof >= 0.5
    # inside the sample by the test above, so this is the overlap test (a unit with no voxel centre never blocks)
    return bool(mask.any()) and not canvas.fits(origin, mask)


def add_filaments(canvas: Canvas, p: FilamentParams, rng: np.random.Generator, voxel_size_a: float,
                  level: float, labels: dict[str, int]) -> dict:
    """Grow ``p.n_microtubules`` microtubules and ``p.n_actin`` actin-like filaments."""
    placed, failures, lengths = {"microtubule": 0, "actin": 0}, 0, []
    plan = ["microtubule"] * p.n_microtubules + ["actin"] * p.n_actin
    for kind in plan:
        radius_a, _, _, step_a, _ = UNITS_A[kind]
        radius, step = radius_a / voxel_size_a, step_a / voxel_size_a
        persistence = (p.mt_persistence_a if kind == "microtubule" else p.actin_persistence_a) / voxel_size_a
        for _ in range(p.max_failures):
            n_units = max(2, int(rng.uniform(*p.length_range_a) / step_a))
            start = np.array([rng.uniform(0, canvas.shape_zyx[2] - 1), rng.uniform(0, canvas.shape_zyx[1] - 1),
                              rng.uniform(canvas.slab_z[0], canvas.slab_z[1] - 1)])
            pts, tans, nrms = centreline(start, random_unit(rng), n_units, step, persistence, rng)
            phase = rng.uniform(0, 2 * np.pi)
            spheres = []
            for i in range(n_units):
                c = unit_spheres(kind, pts[i], tans[i], nrms[i], i, voxel_size_a, phase)
                if _unit_blocked(canvas, c, radius):
                    break
                spheres.append(c)
            if len(spheres) * step_a < max(p.min_length_a, step_a):
                failures += 1
                continue
            centres = np.vstack(spheres)
            prof, origin = render_spheres(centres, radius)
            mask = prof >= 0.5
            if not canvas.fits(origin, mask):
                failures += 1
                continue
            mid = len(spheres) // 2
            rec = canvas.add(origin, (level * prof).astype(np.float32), mask, class_name=kind, label=labels[kind],
                             kind="filament", centre_xyz=np.rint(pts[mid]).astype(int),
                             angles=matrix_to_euler(frame_from_z(tans[mid])))
            rec.extra.update(length_a=len(spheres) * step_a)
            lengths.append(len(spheres) * step_a)
            placed[kind] += 1
            break
    return {"requested": {"microtubule": p.n_microtubules, "actin": p.n_actin}, "placed": placed,
            "failures": failures, "lengths_a": lengths}
