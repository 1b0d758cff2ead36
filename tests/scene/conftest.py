import numpy as np
import pytest
from scene_testlib import small_params

from generator.scene import build_scene
from generator.scene.synthetic import toy_library


@pytest.fixture(scope="session")
def toy():
    return toy_library()


@pytest.fixture(scope="session")
def small_scene(toy):
    return build_scene(toy, small_params(), np.random.default_rng(7))
