"""Crowded cell-like scenes and their ground truth (issue 4).

``build_scene(library, params, rng) -> Scene`` places membranes, filaments,
fiducials and macromolecules (no two overlapping, voxel-exact) in an ice slab;
``write_ground_truth(scene, out_dir)`` writes the ground-truth files of docs/conventions.md.
"""

from generator.scene.build import PARTICLE_COLUMNS, Scene, build_scene, scene_classes
from generator.scene.params import SceneParams
from generator.scene.truth import write_ground_truth

__all__ = ["PARTICLE_COLUMNS", "Scene", "SceneParams", "build_scene", "scene_classes", "write_ground_truth"]
