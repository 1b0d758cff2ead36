"""The scene section of each preset (params.yaml merged with params/<preset>.yaml and its fragments)
validates and says what the issue asks."""

from pathlib import Path

import numpy as np
import pytest

from generator.scene import SceneParams
from tomobench.params import load_section
from tomobench.presets import load_preset, validate_section

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["default", "shrec2020", "crowded"])
def test_preset_validates(name):
    doc, sources = load_preset(name, ROOT / "params.yaml")
    p = validate_section(SceneParams, doc, "scene", sources)
    assert p.voxel_size_a == 10.0
    if name == "default":
        assert p == SceneParams()                       # the model's defaults are params.yaml (the default preset)
        assert p.membranes.count > 0 and p.filaments.count > 0
        # params/scene_default.yaml, the commented essentials that params.yaml points to, says the same
        assert load_section(ROOT / "params" / "scene_default.yaml", "scene", SceneParams) == p
    if name == "shrec2020":
        assert p.shape_xyz == (512, 512, 200)
        assert 2400 <= round(p.particles_per_mvox * np.prod(p.shape_xyz) / 1e6) <= 2800
        assert p.membranes.count == 0 and p.filaments.count == 0
    if name == "crowded":
        assert p.occupancy and p.compaction.enabled
