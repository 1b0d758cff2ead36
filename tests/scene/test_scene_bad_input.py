"""Impossible or malformed scene parameters: early clear errors, or a report of what was placed."""

import numpy as np
import pytest
from scene_testlib import NO_EXTRAS

from generator.scene import SceneParams, build_scene
from generator.scene.synthetic import toy_library
from tomobench.errors import InputError
from tomobench.params import validate


def test_unknown_class_in_proportions(toy):
    params = SceneParams(shape_xyz=(48, 48, 40), slab_thickness_vox=None, class_proportions={"ribosome": 1.0},
                         **NO_EXTRAS)
    with pytest.raises(InputError, match="unknown class"):
        build_scene(toy, params, np.random.default_rng(0))


def test_slab_thinner_than_largest_particle(toy):
    params = SceneParams(shape_xyz=(64, 64, 40), slab_thickness_vox=8, **NO_EXTRAS)
    with pytest.raises(InputError, match="slab"):
        build_scene(toy, params, np.random.default_rng(0))


def test_impossible_count(toy):
    params = SceneParams(shape_xyz=(32, 32, 32), slab_thickness_vox=None, n_particles=5000, **NO_EXTRAS)
    with pytest.raises(InputError, match="need"):
        build_scene(toy, params, np.random.default_rng(0))


def test_voxel_size_mismatch(toy):
    params = SceneParams(shape_xyz=(48, 48, 40), slab_thickness_vox=None, voxel_size_a=5.0, **NO_EXTRAS)
    with pytest.raises(InputError, match="voxel"):
        build_scene(toy, params, np.random.default_rng(0))


@pytest.mark.parametrize("data", [
    {"shape_xyz": [-5, 10, 10]},
    {"occupancy": 1.5},
    {"membranes": {"radius_range_a": [300, 100]}},
    {"fiducials": {"count": -1}},
    {"slab_thickness_vox": 500},
    {"class_proportions": {"asym": -1}},
    {"no_such_key": 1},
])
def test_invalid_values_are_input_errors(data):
    with pytest.raises(InputError, match="scene"):
        validate(SceneParams, data, source="params.yaml", section="scene")


def test_unreachable_count_stops_with_a_report(toy):
    # fits the voxel budget but not the packing: N_t ends each class, the report says what was placed
    params = SceneParams(shape_xyz=(40, 40, 40), slab_thickness_vox=None, n_particles=70, max_failures=20,
                         **NO_EXTRAS)
    scene = build_scene(toy, params, np.random.default_rng(0))
    rep = scene.report.particles
    assert sum(rep.placed.values()) == len(scene.particles) < 70
    assert rep.exhausted
    assert sum(rep.requested.values()) == 70


def test_unreachable_occupancy_stops(toy):
    params = SceneParams(shape_xyz=(40, 40, 40), slab_thickness_vox=None, occupancy=0.9, max_failures=10,
                         **NO_EXTRAS)
    scene = build_scene(toy, params, np.random.default_rng(0))
    assert sorted(scene.report.particles.exhausted) == ["asym", "dumbbell", "rod"]
    assert 0.02 < scene.report.occupancy_protein < 0.9
    assert scene.report.particles.trials < 100_000


def test_library_class_named_like_a_scene_class():
    lib = toy_library()
    table = lib.classes.table.copy()
    table.loc[0, "class_name"] = "vesicle"
    lib.classes = type(lib.classes)(table)
    lib.templates["vesicle"] = lib.templates.pop("asym")
    with pytest.raises(InputError, match="reserves"):
        build_scene(lib, SceneParams(shape_xyz=(64, 64, 40), slab_thickness_vox=None), np.random.default_rng(0))
