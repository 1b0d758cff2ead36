"""Point groups about arbitrary axes: detection in the template's frame and the aligned, reduced search."""

from __future__ import annotations

import numpy as np
import pytest
from classical_synth import asymmetric_template, blob_template, plant

from baselines.template_matching import so3
from baselines.template_matching.matching import PreparedTemplate, match_template
from baselines.template_matching.symmetry import axis_rotation, detect_symmetry, frame_with_axis
from baselines.template_matching.templates import spherical_mask
from tomobench.euler import euler_to_matrix, random_rotations
from tomobench.rotate import rotate_volume

TURN = euler_to_matrix(37.0, 71.0, 122.0)     # puts the canonical z axis far from every box axis


def _lumpy(size: int = 25) -> np.ndarray:
    # chiral along every axis: its Cn averages have no 2-fold (their best one correlates at ~0.68)
    return blob_template(size, [(0, 0, 1, 2.5, 1.0), (5, 0, 4, 2.0, 1.0), (2, 4, -1, 1.8, 0.8), (4, -3, 3, 1.4, 0.6)])


def symmetric_template(group: str, turn: np.ndarray = TURN, size: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """A template with point group ``group`` about the axes ``turn`` (columns: x, y, z), and ``turn``.

    The lumpy template averaged over the canonical group's rotations, then turned by ``turn``:
    its group in the template frame is ``turn G turn^T`` (independent of the detector's method).
    """
    base = _lumpy(size)
    mats = so3.PointGroup.parse(group).matrices()
    sym = np.mean([rotate_volume(base, g, order=3) for g in mats], axis=0).astype(np.float32)
    return rotate_volume(sym, turn, order=3).astype(np.float32), turn


def _axis_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(min(1.0, abs(float(a @ b) / np.linalg.norm(a) / np.linalg.norm(b))))))


@pytest.mark.parametrize("group", ["D4", "C5", "D3"])
def test_detects_the_group_and_its_axes_off_the_box_axes(group):
    template, turn = symmetric_template(group)
    found = detect_symmetry(template)
    assert str(found) == group
    assert _axis_error_deg(found.axis, turn[:, 2]) < 2.0
    truth = turn @ so3.PointGroup.parse(group).matrices() @ turn.T
    # every detected element (the 2-folds of Dn included) is one of the true group's, within 2 degrees
    assert so3.angular_distance_deg(found.matrices(), truth).min(axis=1).max() < 2.0


def test_asymmetric_blob_stays_c1():
    for template in (asymmetric_template(21), rotate_volume(_lumpy(), TURN, order=3)):
        found = detect_symmetry(template)
        assert (found.kind, found.order, found.alignment) == ("C", 1, None)


def test_axis_on_z_is_found_as_before():
    template, _ = symmetric_template("D4", turn=np.eye(3))
    found = detect_symmetry(template)
    assert str(found) == "D4" and _axis_error_deg(found.axis, np.array([0.0, 0.0, 1.0])) < 1.0


def test_aligned_group_elements_and_grid():
    a = frame_with_axis(np.array([1.0, 2.0, 2.0]), np.array([0.0, 1.0, -1.0]))
    g = so3.PointGroup.aligned("D", 3, a)
    assert np.allclose(g.axis, np.array([1.0, 2.0, 2.0]) / 3.0)
    assert np.allclose(g.matrices(), a @ so3.PointGroup("D", 3).matrices() @ a.T)
    assert np.allclose(g.matrices()[1], axis_rotation(g.axis, 120.0), atol=1e-9)
    # the grid is the canonical one times A^T, and its images under the group are the C1 grid times A^T
    canonical = so3.sample_rotations(30.0, "D3")
    assert np.allclose(so3.sample_rotations(30.0, g), canonical @ a.T)
    full = so3.sample_rotations(30.0) @ a.T
    images = np.concatenate([so3.sample_rotations(30.0, g) @ m for m in g.matrices()])
    assert so3.angular_distance_deg(images, full).min(axis=1).max() < 1e-5
    with pytest.raises(ValueError):
        so3.PointGroup("C", 2, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0))   # a reflection


def test_aligned_grid_keeps_the_covering_radius():
    g = so3.PointGroup.aligned("D", 4, frame_with_axis(np.array([0.3, -0.8, 0.5])))
    grid = so3.sample_rotations(30.0, g)
    probes = random_rotations(400, np.random.default_rng(3))
    assert so3.angular_distance_deg(probes, grid, g).min(axis=1).max() <= 30.0


def test_reduced_aligned_search_matches_the_full_search():
    rng = np.random.default_rng(7)
    template, _ = symmetric_template("D3")
    group = detect_symmetry(template)
    assert str(group) == "D3"
    pose = euler_to_matrix(25.0, 60.0, 110.0)
    volume = rng.normal(0.0, 0.3, (30, 32, 31)).astype(np.float32)
    plant(volume, rotate_volume(template, pose), (15, 16, 15))
    mask = spherical_mask(25, 10.0)
    # the full grid in the aligned frame (the reduced grid's images under G) and the reduced grid
    full = PreparedTemplate("f", template, mask, 8.0, so3.sample_rotations(30.0) @ group.alignment_matrix.T,
                            so3.PointGroup())
    reduced = PreparedTemplate("r", template, mask, 8.0, so3.sample_rotations(30.0, group), group)
    assert len(reduced.rotations) * 6 == len(full.rotations)
    s_full, i_full = match_template(volume, full, tilt_range_deg=None, progress=False)
    s_red, i_red = match_template(volume, reduced, tilt_range_deg=None, progress=False)
    peak = np.unravel_index(np.argmax(s_full), s_full.shape)
    assert peak == np.unravel_index(np.argmax(s_red), s_red.shape) == (15, 16, 15)
    assert s_red[peak] == pytest.approx(s_full[peak], abs=0.01)
    best_full, best_red = full.rotations[i_full[peak]], reduced.rotations[i_red[peak]]
    # equivalent poses: the same rotation modulo the group (a sample's image, up to the template's
    # interpolated symmetry), and both within the step of the planted pose modulo the group
    assert so3.angular_distance_deg(best_red, best_full, group)[0, 0] < 3.0
    assert so3.angular_distance_deg(pose, best_red, group)[0, 0] <= 30.0


def test_templates_for_gives_symmetric_classes_a_finer_coarse_step():
    from baselines.template_matching.cli import Dataset, TMParams, templates_for

    raw = _lumpy(21)
    data = Dataset(names=["ring"], templates={"ring": raw}, template_voxel_a=10.0, test=[], sign=1.0, density={},
                   radius_a={"ring": 60.0}, bulk_a={"ring": 60.0}, mass={})
    opts = dict(refine=True, bin=2, angular_step_deg=30.0, fine_step_deg=12.85, apply_ctf=False,
                symmetry={"ring": "D7"})
    coarse, fine = templates_for("ring", TMParams(**opts, coarse_min_rotations=100), data, {}, 10.0)
    assert (coarse.step_deg, len(coarse.rotations)) == (24.0, 100)    # 30 deg would give D7 32 rotations
    assert (fine.step_deg, len(fine.rotations)) == (12.85, so3.rotation_count(12.85, "D7"))
    coarse, _ = templates_for("ring", TMParams(**opts), data, {}, 10.0)
    assert (coarse.step_deg, len(coarse.rotations)) == (30.0, 32)
    # the detected group (with its alignment) is the fine template's, and the coarse grid uses it too
    rotated, turn = symmetric_template("C5", size=25)
    data.templates["ring"] = rotated
    coarse, fine = templates_for("ring", TMParams(**{**opts, "symmetry": {}}), data, {}, 10.0)
    assert str(fine.symmetry) == "C5" and coarse.symmetry == fine.symmetry
    assert np.allclose(coarse.rotations, so3.sample_rotations(30.0, "C5") @ fine.symmetry.alignment_matrix.T)
