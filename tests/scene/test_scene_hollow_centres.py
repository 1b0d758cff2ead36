"""Hollow and horseshoe-shaped classes: a pick at a particle's true centre lands on that particle.

SHREC scoring reads the occupancy mask at the pick; rings, barrels and arcs have
no density at their centre of mass, so the scene fills their masks
(generator.scene.templates.solid_mask).
"""

import numpy as np
from scene_testlib import NO_EXTRAS, small_params

from generator.scene import build_scene
from generator.scene.synthetic import make_library
from generator.scene.templates import solid_mask
from scoring import score_particles
from tomobench.groundtruth import GroundTruth
from tomobench.particles import make_particles


def _arc(n_blobs: int, span_deg: float, radius: float = 6.0):
    angles = np.deg2rad(np.linspace(0, span_deg, n_blobs, endpoint=span_deg < 360))
    return [((radius * np.cos(a), radius * np.sin(a), 0.0), (1.6, 1.6, 2.5)) for a in angles]


def test_solid_mask_fills_an_open_barrel_and_reaches_an_outside_centre():
    barrel = np.zeros((15, 15, 15), bool)
    z, y, x = np.indices(barrel.shape) - 7
    barrel[(np.hypot(x, y) >= 4) & (np.hypot(x, y) <= 6)] = True        # open at both ends
    assert not barrel[7, 7, 7]
    assert solid_mask(barrel, np.array([7, 7, 7]))[7, 7, 7]
    blob = np.zeros((15, 15, 15), bool)
    blob[7, 7, 11:14] = True                                             # centre 4 voxels away
    solid = solid_mask(blob, np.array([7, 7, 7]))
    assert solid[7, 7, 7:14].all() and solid.sum() == 7                 # joined by the straight path


def test_picks_at_true_centres_of_rings_and_arcs_all_hit():
    library = make_library({"ring": _arc(10, 360), "horseshoe": _arc(7, 200)})
    for name, template in library.templates.items():
        c = tuple(n // 2 for n in template.shape)
        assert template[c] < 0.1 * template.max(), f"{name} should be hollow at its centre"
    scene = build_scene(library, small_params(n_particles=30, clusters=dict(enabled=False), **NO_EXTRAS),
                        np.random.default_rng(3))
    proteins = scene.particles[scene.particles["kind"] == "protein"]
    assert len(proteins) >= 10
    at_centre = scene.occupancy[proteins["z"].astype(int), proteins["y"].astype(int), proteins["x"].astype(int)]
    np.testing.assert_array_equal(at_centre, proteins["id"].to_numpy())
    particles = make_particles(scene.particles["class"], scene.particles[["x", "y", "z"]].to_numpy())
    truth = {"t": GroundTruth("t", None, particles, scene.occupancy, scene.voxel_size_a, scene.classes)}
    report = score_particles(make_particles(proteins["class"], proteins[["x", "y", "z"]].to_numpy()), truth)
    assert report["TP"] == len(proteins) and report["FP"] == 0 and report["f1"] == 1.0
