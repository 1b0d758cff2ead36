"""Gold fiducials and the vitreous-ice slab.

Fiducials are smooth solid spheres (5-10 nm across) of ``relative_density``
times the protein reference, placed at random in the slab without overlap.

Ice fills the slab where nothing else is: ``ice = rho_ice * (1 - clip(D / rho_p,
0, 1))`` with ``D`` the density of the objects and ``rho_p`` the protein
reference, so objects displace the solvent smoothly (no hard rim at the mask
edge), plus white Gaussian variation of ``noise_sigma * rho_p`` inside the slab
(SHREC 2020: sigma 0.01). Outside the slab the model is vacuum (0).
"""

from __future__ import annotations

import numpy as np

from generator.scene.canvas import Canvas
from generator.scene.geometry import render_spheres
from generator.scene.packing import BallIndex
from generator.scene.params import FiducialParams, IceParams


def add_fiducials(canvas: Canvas, index: BallIndex, p: FiducialParams, rng: np.random.Generator,
                  voxel_size_a: float, level: float, label: int, max_failures: int) -> dict:
    placed, failures = 0, 0
    for _ in range(p.count):
        for _ in range(max_failures):
            radius = rng.uniform(*p.diameter_range_a) / 2 / voxel_size_a
            lo = np.array([0, 0, canvas.slab_z[0]]) + np.ceil(radius + 0.5)
            hi = np.array([canvas.shape_zyx[2], canvas.shape_zyx[1], canvas.slab_z[1]]) - 1 - np.ceil(radius + 0.5)
            if (hi < lo).any():
                failures += 1
                continue
            centre = rng.integers(lo.astype(int), hi.astype(int) + 1)
            prof, origin = render_spheres(centre[None].astype(float), radius)
            mask = prof >= 0.5
            if not canvas.fits(origin, mask):
                failures += 1
                continue
            rec = canvas.add(origin, (level * prof).astype(np.float32), mask, class_name="fiducial", label=label,
                             kind="fiducial", centre_xyz=centre, angles=np.zeros(3))
            rec.extra["diameter_a"] = round(2 * radius * voxel_size_a, 1)
            index.add(np.array([[*centre, radius + 0.5]]), rec.id)
            placed += 1
            break
    return {"requested": p.count, "placed": placed, "failures": failures}


def add_ice(density: np.ndarray, slab_z: tuple[int, int], p: IceParams, protein_level: float,
            rng: np.random.Generator) -> None:
    """Add the ice of the module docstring to ``density`` in place (slab by slab, to bound memory)."""
    if not p.enabled:
        return
    ice = np.float32(p.relative_density * protein_level)
    inv = np.float32(1.0 / protein_level)
    sigma = np.float32(p.noise_sigma * protein_level)
    for z in range(slab_z[0], slab_z[1]):
        plane = density[z]
        solvent = 1.0 - np.clip(plane * inv, 0.0, 1.0)
        plane += ice * solvent
        if sigma > 0:
            plane += sigma * rng.standard_normal(plane.shape, dtype=np.float32)
