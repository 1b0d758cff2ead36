"""Gold fiducials and the vitreous-ice slab.

Fiducials are smooth solid spheres (5-10 nm across) of ``relative_density``
times the protein reference, placed at random in the slab without overlap.

Ice fills the slab where nothing else is: ``ice = V_ice * (1 - clip(D / V_p, 0,
1))`` with ``D`` the potential of the objects (V), ``V_ice`` the potential of water
at ``density_g_cm3`` in the isolated-atom model (4.53 V at 0.93 g/cm³, Peng's
factors as for the templates) and ``V_p`` = 7.94 V the potential of bulk protein.
Both are physical constants of the model, not of the structure library, and
``D / V_p`` is the protein volume fraction of a voxel (its integral is the protein
volume), so objects displace exactly their volume of solvent, smoothly (no hard rim
at the mask edge). White Gaussian variation of ``noise_sigma * V_p`` is added inside
the slab (SHREC 2020: sigma 0.01). Outside the slab the model is vacuum (0).
"""

from __future__ import annotations

import numpy as np

from generator.scene.canvas import Canvas
from generator.scene.geometry import render_spheres
from generator.scene.packing import BallIndex
from generator.scene.params import FiducialParams, IceParams
from generator.structures.potential import bulk_protein_potential_v, water_potential_v


def add_fiducials(canvas: Canvas, index: BallIndex, p: FiducialParams, rng: np.random.Generator,
                  voxel_size_a: float, level: float, label: int, max_failures: int) -> dict:
    """Place ``p.count`` gold-bead fiducials in the ice slab of ``canvas``, each where it overlaps nothing.

    Each bead gets a diameter drawn from ``p.diameter_range_a`` and a random voxel centre inside the
    slab; a bead that does not fit is redrawn, up to ``max_failures`` times, then given up.

    Parameters
    ----------
    canvas : Canvas
        The scene volume (``[z, y, x]``, V); beads are added to it in place.
    index : BallIndex
        Ball index of the placed objects (voxel units); each bead is added as one ball.
    p : FiducialParams
        Number of beads and their diameter range (Å).
    rng : np.random.Generator
        Source of the diameters and centres.
    voxel_size_a : float
        Voxel size of the canvas (Å).
    level : float
        Potential of the bead material (V).
    label : int
        Class label given to the beads.
    max_failures : int
        Tries per bead before it is given up.

    Returns
    -------
    dict
        ``{"requested": p.count, "placed": n, "failures": failed tries}``.
    """
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


def ice_levels_v(p: IceParams) -> tuple[float, float, float]:
    """``(V_ice, V_p, noise sigma)`` of the ice in volts (module docstring)."""
    bulk = bulk_protein_potential_v()
    return water_potential_v(p.density_g_cm3), bulk, p.noise_sigma * bulk


def add_ice(density: np.ndarray, slab_z: tuple[int, int], p: IceParams, rng: np.random.Generator) -> None:
    """Add the ice of the module docstring to ``density`` (V, ``[z, y, x]``) in place, plane by plane.

    Parameters
    ----------
    density : np.ndarray
        Potential of the objects (V, float32, ``[z, y, x]``); modified in place.
    slab_z : tuple of int
        ``(z0, z1)``: the planes ``z0 <= z < z1`` that hold ice.
    p : IceParams
        Ice density and noise level; nothing is added when ``p.enabled`` is false.
    rng : np.random.Generator
        Source of the Gaussian variation.
    """
    if not p.enabled:
        return
    ice_v, bulk_v, sigma_v = ice_levels_v(p)
    ice, inv, sigma = np.float32(ice_v), np.float32(1.0 / bulk_v), np.float32(sigma_v)
    for z in range(slab_z[0], slab_z[1]):
        plane = density[z]
        solvent = 1.0 - np.clip(plane * inv, 0.0, 1.0)
        plane += ice * solvent
        if sigma > 0:
            plane += sigma * rng.standard_normal(plane.shape, dtype=np.float32)
