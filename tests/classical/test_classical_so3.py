"""SO(3) sampling: rotation counts and coverage for a given angular step."""

import numpy as np
import pytest

from baselines.template_matching import so3
from tomobench.euler import euler_to_matrix, random_rotations


@pytest.mark.parametrize("step", [30.0, 20.0])
def test_count_matches_the_samples(step):
    assert so3.rotation_count(step) == len(so3.sample_rotations(step))


def test_count_by_hand():
    assert so3.rotation_count(30.0) == 32 * 12   # ceil(4 pi / (0.6283)^2) = 32 directions x 12 in-plane


def test_z_symmetry_divides_the_inplane_count():
    assert so3.n_inplane(30.0, 1) == 12
    assert so3.n_inplane(30.0, 3) == 4
    assert so3.rotation_count(30.0, 6) == so3.rotation_count(30.0) // 6


def test_dihedral_halves_the_directions():
    # D4 at 30 degrees: 16 of the 32 directions x 3 in-plane angles (12 / 4)
    assert so3.rotation_count(30.0, "D4") == 16 * 3 == len(so3.sample_rotations(30.0, "D4"))
    # odd Dn: the in-plane count is made even so that psi -> -psi - 180 maps the grid onto itself
    assert so3.n_inplane(30.0, 7, dihedral=True) == 2 and so3.n_inplane(30.0, 7) == 2
    assert so3.n_inplane(40.0, 3, dihedral=True) == 4 and so3.n_inplane(40.0, 3) == 3
    assert so3.rotation_count(25.0, "D7") == len(so3.sample_rotations(25.0, "D7"))


def test_dihedral_grid_images_are_full_grid_samples():
    # every D4 sample times every group element is a sample of the C1 grid (the reduction only drops copies)
    full = so3.sample_rotations(30.0, 1)
    reduced = so3.sample_rotations(30.0, "D4")
    images = np.concatenate([reduced @ g for g in so3.PointGroup.parse("D4").matrices()])
    assert len(images) == len(full)
    d = so3.angular_distance_deg(images, full)
    assert d.min(axis=1).max() < 1e-3 and d.min(axis=0).max() < 1e-3


def test_point_group_parse_and_elements():
    g = so3.PointGroup.parse("d7")
    assert (g.kind, g.order, g.size, str(g)) == ("D", 7, 14, "D7")
    assert so3.PointGroup.parse(3) == so3.PointGroup("C", 3)
    m = g.matrices()
    assert np.allclose(m[0], np.eye(3)) and np.allclose(m[7], np.diag([1.0, -1.0, -1.0]))
    # closed under composition: every product is again an element
    prod = np.einsum("aij,bjk->abik", m, m).reshape(-1, 3, 3)
    assert so3.angular_distance_deg(prod, m).min(axis=1).max() < 1e-4
    with pytest.raises(ValueError):
        so3.PointGroup.parse("T")

@pytest.mark.parametrize("step,sym", [(30.0, 1), (20.0, 1), (30.0, 3), (30.0, "D2"), (25.0, "D7"), (30.0, "D3")])
def test_every_rotation_lies_within_one_step_of_a_sample(step, sym):
    samples = so3.sample_rotations(step, sym)
    probes = random_rotations(1500, np.random.default_rng(7))
    nearest = so3.angular_distance_deg(probes, samples, sym).min(axis=1)
    assert nearest.max() <= step
    # and the grid is not needlessly dense: typical distance is a sizeable fraction of the step
    assert np.median(nearest) > 0.3 * step


def test_samples_are_proper_rotations_and_distinct():
    r = so3.sample_rotations(30.0)
    assert np.allclose(r @ np.transpose(r, (0, 2, 1)), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(r), 1.0)
    d = so3.angular_distance_deg(r, r)
    np.fill_diagonal(d, np.inf)
    assert d.min() > 1.0


def test_angular_distance_by_hand():
    a = euler_to_matrix(0.0, 0.0, 0.0)
    b = euler_to_matrix(0.0, 0.0, 40.0)
    assert so3.angular_distance_deg(a, b)[0, 0] == pytest.approx(40.0)
    # with 3-fold symmetry about z, a 130 degree turn is 10 degrees from a symmetric copy
    assert so3.angular_distance_deg(a, euler_to_matrix(0.0, 0.0, 130.0), 3)[0, 0] == pytest.approx(10.0)


@pytest.mark.parametrize("group", ["D8", "D7", "C6", "C2", "C1"])
def test_coarse_step_is_the_largest_with_enough_rotations(group):
    step = so3.coarse_step_deg(30.0, 12.85, group, 100)
    assert 12.85 <= step <= 30.0
    assert so3.rotation_count(step, group) >= 100
    # every larger step of the 0.5-degree ladder has fewer rotations
    larger = np.arange(30.0, step, -0.5)
    assert all(so3.rotation_count(s, group) < 100 for s in larger[larger > step + 1e-9])


def test_coarse_step_by_hand_and_at_its_limits():
    # D7 at 24.5 deg: 48 / 2 directions x 4 in-plane (3, made even) = 96; at 24 deg: 50 / 2 x 4 = 100
    assert so3.coarse_step_deg(30.0, 12.85, "D7", 100) == 24.0
    assert so3.rotation_count(24.5, "D7") < 100 <= so3.rotation_count(24.0, "D7")
    assert so3.coarse_step_deg(30.0, 12.85, "C1", 100) == 30.0     # 384 already
    assert so3.coarse_step_deg(30.0, 12.85, "D7", None) == 30.0    # off
    assert so3.coarse_step_deg(30.0, 20.0, "D8", 10 ** 6) == 20.0  # never below the fine step
    assert so3.coarse_step_deg(12.0, 12.85, "D8", 10 ** 6) == 12.0  # already finer: unchanged
    with pytest.raises(ValueError):
        so3.coarse_step_deg(30.0, 12.85, "D7", 100, decrement_deg=0.0)
