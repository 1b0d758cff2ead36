"""The preset snippets params/scene_<preset>.yaml validate and say what the issue asks."""

from pathlib import Path

import numpy as np
import pytest

from generator.scene import SceneParams
from tomobench.params import load_section

PARAMS = Path(__file__).resolve().parents[2] / "params"


@pytest.mark.parametrize("name", ["default", "shrec2020", "crowded"])
def test_preset_validates(name):
    p = load_section(PARAMS / f"scene_{name}.yaml", "scene", SceneParams)
    assert p.voxel_size_a == 10.0
    if name == "default":
        assert p == SceneParams()                       # the model's defaults are the default preset
        assert p.membranes.count > 0 and p.filaments.count > 0
    if name == "shrec2020":
        assert p.shape_xyz == (512, 512, 200)
        assert 2400 <= round(p.particles_per_mvox * np.prod(p.shape_xyz) / 1e6) <= 2800
        assert p.membranes.count == 0 and p.filaments.count == 0
    if name == "crowded":
        assert p.occupancy and p.compaction.enabled
