"""Membranes (PolNet): spherical and ellipsoidal vesicles and toroidal sheets with a bilayer profile.

A membrane is the zero set of a signed distance ``d`` (voxels) of a randomly
rotated sphere, ellipsoid or torus. Its density is two Gaussian leaflets,
``rho * (g(d - t/2) + g(d + t/2))`` with ``g(u) = exp(-u^2 / (2 sigma^2))``,
``t`` the leaflet distance (2.5-4.5 nm) and ``sigma`` the leaflet width; its
mask is ``|d| <= t/2 + sigma``. Membranes go in first; each keeps samples of
its mid-surface with normals so that membrane-bound particles can be seated on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.scene.canvas import Canvas
from generator.scene.geometry import crop_grid, frame_from_z, rot_z
from generator.scene.packing import BallIndex, try_place
from generator.scene.params import MembraneParams
from generator.scene.templates import Shape
from tomobench.euler import matrix_to_euler, random_rotations

MAX_SURFACE_SAMPLES = 20000


@dataclass
class Surface:
    """Mid-surface samples of one membrane: points and unit normals (voxels, x y z)."""

    points: np.ndarray
    normals: np.ndarray
    half_thickness_vox: float


def signed_distance(kind: str, q: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Signed distance (approximate for ellipsoids) of local points ``q[..., 3]`` to the surface.

    ``size``: sphere (r,), ellipsoid (ax, ay, az), torus (R, r) in voxels.
    """
    if kind == "sphere":
        return np.linalg.norm(q, axis=-1) - size[0]
    if kind == "ellipsoid":
        k0 = np.linalg.norm(q / size, axis=-1)
        k1 = np.linalg.norm(q / size**2, axis=-1)
        return k0 * (k0 - 1) / np.maximum(k1, 1e-9)
    if kind == "torus":
        ring = np.sqrt(q[..., 0] ** 2 + q[..., 1] ** 2) - size[0]
        return np.sqrt(ring**2 + q[..., 2] ** 2) - size[1]
    raise ValueError(kind)


def random_size(kind: str, p: MembraneParams, rng: np.random.Generator, voxel_size_a: float) -> np.ndarray:
    """Random size of one membrane of ``kind`` (voxels): sphere radius, ellipsoid semi-axes or torus radii."""
    lo, hi = p.radius_range_a
    if kind == "sphere":
        return np.array([rng.uniform(lo, hi)]) / voxel_size_a
    if kind == "ellipsoid":
        a = np.sort(rng.uniform(lo, hi, 3))[::-1]
        if np.sqrt(1 - (a[2] / a[0]) ** 2) > p.max_eccentricity:
            a[2] = a[0] * np.sqrt(1 - p.max_eccentricity**2)
        return rng.permutation(a) / voxel_size_a
    big, small = np.sort(rng.uniform(lo, hi, 2))[::-1]
    small = min(small, 0.9 * big)
    return np.array([big, small]) / voxel_size_a


def render_membrane(kind: str, size: np.ndarray, matrix: np.ndarray, centre_xyz: np.ndarray,
                    thickness_vox: float, sigma_vox: float, level: float):
    """Density crop, mask crop, crop origin (zyx) and the signed distance of one membrane."""
    reach = (size[0] + size[1] if kind == "torus" else size.max()) + thickness_vox / 2 + 3 * sigma_vox + 1
    origin = np.floor(centre_xyz - reach).astype(int)[::-1]
    n = int(2 * np.ceil(reach) + 2)
    q = (crop_grid(origin, (n, n, n)) - centre_xyz.astype(np.float32)) @ matrix.astype(np.float32)
    d = signed_distance(kind, q, size)
    half = thickness_vox / 2
    g = lambda u: np.exp(-(u**2) / (2 * sigma_vox**2))  # noqa: E731
    density = (level * (g(d - half) + g(d + half))).astype(np.float32)
    mask = np.abs(d) <= half + sigma_vox
    return density, mask, origin, d


def add_membranes(canvas: Canvas, p: MembraneParams, rng: np.random.Generator, voxel_size_a: float,
                  level: float, labels: dict[str, int]) -> tuple[list[Surface], dict]:
    """Insert the membranes of ``p`` (spheres -> class ``vesicle``, others -> ``membrane``)."""
    shape_xyz = np.array(canvas.shape_zyx[::-1])
    lower = np.array([0, 0, canvas.slab_z[0]])
    upper = np.array([shape_xyz[0], shape_xyz[1], canvas.slab_z[1]]) - 1
    surfaces, placed, failures = [], {"sphere": 0, "ellipsoid": 0, "torus": 0}, 0
    plan = ["sphere"] * p.n_vesicles + ["ellipsoid"] * p.n_ellipsoids + ["torus"] * p.n_tori
    for kind in plan:
        for _ in range(p.max_failures):
            size = random_size(kind, p, rng, voxel_size_a)
            t = rng.uniform(*p.thickness_range_a) / voxel_size_a
            sigma = rng.uniform(*p.leaflet_sigma_range_a) / voxel_size_a
            matrix = random_rotations(1, rng)[0]
            # axis-aligned extent of the rotated body, to draw a centre that keeps it inside
            if kind == "torus":
                corners = np.array([size[0] + size[1]] * 2 + [size[1]])
            else:
                corners = np.broadcast_to(size, (3,))
            ext = np.abs(matrix) @ corners + t / 2 + sigma + 1
            lo, hi = np.ceil(lower + ext).astype(int), np.floor(upper - ext).astype(int)
            if (hi < lo).any():
                failures += 1
                continue
            centre = rng.integers(lo, hi + 1)
            density, mask, origin, d = render_membrane(kind, size, matrix, centre.astype(float), t, sigma, level)
            if not canvas.fits(origin, mask):
                failures += 1
                continue
            name = "vesicle" if kind == "sphere" else "membrane"
            rec = canvas.add(origin, density, mask, class_name=name, label=labels[name], kind=name,
                             centre_xyz=centre, angles=matrix_to_euler(matrix))
            rec.extra.update(shape=kind, size_a=(size * voxel_size_a).round(1).tolist(),
                             thickness_a=round(t * voxel_size_a, 2))
            surfaces.append(_surface(d, origin, t / 2, rng))
            placed[kind] += 1
            break
    return surfaces, {"requested": {"sphere": p.n_vesicles, "ellipsoid": p.n_ellipsoids, "torus": p.n_tori},
                      "placed": placed, "failures": failures}


def _surface(d: np.ndarray, origin_zyx: np.ndarray, half: float, rng: np.random.Generator) -> Surface:
    grad = np.stack(np.gradient(d)[::-1], axis=-1)        # (x, y, z) components
    near = np.argwhere(np.abs(d) < 0.5)
    if len(near) > MAX_SURFACE_SAMPLES:
        near = near[rng.choice(len(near), MAX_SURFACE_SAMPLES, replace=False)]
    normals = grad[tuple(near.T)]
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    return Surface(points=(near + origin_zyx)[:, ::-1].astype(float), normals=normals, half_thickness_vox=half)


def place_bound(canvas: Canvas, index: BallIndex, shapes: dict[str, Shape], counts: dict[str, int],
                surfaces: list[Surface], rng: np.random.Generator, model: str, max_failures: int) -> dict:
    """Seat membrane-bound particles on the membranes, their template z axis along the local normal.

    The particle sits on a random side of the membrane with its lowest mask
    voxel (template frame) one voxel beyond the membrane's half thickness.
    """
    placed = {n: 0 for n in counts}
    failures = 0
    if not surfaces:
        return {"requested": counts, "placed": placed, "failures": 0}
    weights = np.array([len(s.points) for s in surfaces], dtype=float)
    for name, count in counts.items():
        shape = shapes[name]
        for _ in range(count):
            for _ in range(max_failures):
                s = surfaces[int(rng.choice(len(surfaces), p=weights / weights.sum()))]
                i = int(rng.integers(len(s.points)))
                normal = s.normals[i] * (1 if rng.random() < 0.5 else -1)
                matrix = frame_from_z(normal) @ rot_z(rng.uniform(0, 2 * np.pi))
                centre = np.rint(s.points[i] + normal * (s.half_thickness_vox + 1 - shape.zmin_vox)).astype(int)
                rec = try_place(canvas, index, shape, matrix, centre, model)
                if rec is not None:
                    rec.extra["membrane_bound"] = True
                    placed[name] += 1
                    break
                failures += 1
            else:
                break
    return {"requested": counts, "placed": placed, "failures": failures}

