"""Each tomogram has its own random streams: the index changes the sample, an imaging-only change does not."""

import pytest

from generator.scene.synthetic import toy_library
from generator.simulate import load_config, simulate_tomogram


@pytest.fixture(scope="module")
def tiny():
    config = load_config("tiny")
    scene = config.scene.model_copy(update={"class_proportions": {}})   # the toy library's classes
    return toy_library(), scene, config.imaging, config.dataset.seed


def _bytes(folder, name):
    return (folder / name).read_bytes()


def test_tomogram_index_changes_the_sample_and_imaging_keeps_it(tiny, tmp_path):
    library, scene, imaging, seed = tiny
    first = simulate_tomogram(library, scene, imaging, seed, 0, tmp_path / "a")
    other = simulate_tomogram(library, scene, imaging, seed, 1, tmp_path / "b")
    refocused = imaging.model_copy(update={"optics": imaging.optics.model_copy(
        update={"defocus_um": imaging.optics.defocus_um + 2.0})})
    same_scene = simulate_tomogram(library, scene, refocused, seed, 0, tmp_path / "c")

    assert _bytes(first, "particle_locations.txt") != _bytes(other, "particle_locations.txt")
    assert _bytes(first, "grandmodel.mrc") != _bytes(other, "grandmodel.mrc")
    # the defocus is an imaging parameter: the scene (its own stream) is byte for byte the same ...
    for name in ("particle_locations.txt", "grandmodel.mrc", "class_mask.mrc", "occupancy_mask.mrc"):
        assert _bytes(first, name) == _bytes(same_scene, name), name
    # ... and the tomogram is not
    assert _bytes(first, "reconstruction.mrc") != _bytes(same_scene, "reconstruction.mrc")

