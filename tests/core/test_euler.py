"""The rotation convention, against hand-made rotations."""

import numpy as np
import pytest

from tomobench.euler import (
    euler_to_matrix,
    matrix_to_euler,
    matrix_to_relion,
    random_rotations,
    relion_matrix,
    relion_to_zxz,
    zxz_to_relion,
)
from tomobench.rotate import rotate_volume


def test_phi_turns_x_into_y():
    np.testing.assert_allclose(euler_to_matrix(90, 0, 0) @ [1, 0, 0], [0, 1, 0], atol=1e-12)


def test_theta_turns_y_into_z():
    np.testing.assert_allclose(euler_to_matrix(0, 90, 0) @ [0, 1, 0], [0, 0, 1], atol=1e-12)


def test_order_is_z_x_z_applied_right_to_left():
    # psi first (about z), then theta (about x), then phi (about z): x -> y -> z -> z.
    np.testing.assert_allclose(euler_to_matrix(90, 90, 90) @ [1, 0, 0], [0, 0, 1], atol=1e-12)


def test_matrix_euler_round_trip(rng):
    matrices = random_rotations(200, rng)
    back = euler_to_matrix(*matrix_to_euler(matrices).T)
    np.testing.assert_allclose(back, matrices, atol=1e-9)


def _relion_matrix(rot, tilt, psi):
    """RELION's Euler_angles2matrix (src/euler.cpp), written out by hand."""
    a, b, g = np.deg2rad([rot, tilt, psi])
    ca, cb, cg, sa, sb, sg = np.cos(a), np.cos(b), np.cos(g), np.sin(a), np.sin(b), np.sin(g)
    cc, cs, sc, ss = cb * ca, cb * sa, sb * ca, sb * sa
    return np.array([[cg * cc - sg * sa, cg * cs + sg * ca, -cg * sb],
                     [-sg * cc - cg * sa, -sg * cs + cg * ca, sg * sb],
                     [sc, ss, cb]])


@pytest.mark.parametrize("angles", [(30, 40, 50), (-120, 170, 10), (0, 90, 0), (90, 0, 0)])
def test_relion_matrix_is_relions_euler_angles2matrix(angles):
    np.testing.assert_allclose(relion_matrix(*angles), _relion_matrix(*angles), atol=1e-12)


@pytest.mark.parametrize("angles", [(30, 40, 50), (-120, 170, 10), (0, 90, 0), (90, 0, 0)])
def test_relion_angles_give_the_same_particle_rotation(angles):
    rot, tilt, psi = zxz_to_relion(*angles)
    # RELION's matrix is the reference-to-particle rotation, i.e. tomobench's R itself (not its transpose).
    np.testing.assert_allclose(_relion_matrix(rot, tilt, psi), euler_to_matrix(*angles), atol=1e-9)
    np.testing.assert_allclose(euler_to_matrix(*relion_to_zxz(rot, tilt, psi)), euler_to_matrix(*angles),
                               atol=1e-9)


def test_a_pure_relion_rot_turns_the_particle_clockwise_about_z():
    # Euler_angles2matrix(90, 0, 0) = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]: +x goes to -y.
    r = euler_to_matrix(*relion_to_zxz(90, 0, 0))
    np.testing.assert_allclose(r @ [1, 0, 0], [0, -1, 0], atol=1e-12)
    rot, tilt, psi = zxz_to_relion(-90, 0, 0)      # tomobench's Rz(-90): x -> -y
    assert tilt == pytest.approx(0, abs=1e-9) and rot + psi == pytest.approx(90)


def test_relion_angles_agree_with_copicks_relion_converter(rng):
    # An independent implementation: copick's RELION reader (relion_rows_to_poses) and writer (_relion_eulers).
    relion = pytest.importorskip("copick.util.relion")
    formats = pytest.importorskip("copick.util.formats")
    import pandas as pd
    zxz = matrix_to_euler(random_rotations(50, rng))
    angles = zxz_to_relion(*zxz.T)
    df = pd.DataFrame(angles, columns=["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"])
    rotations, _ = relion.relion_rows_to_poses(df)
    np.testing.assert_allclose(rotations, euler_to_matrix(*zxz.T), atol=1e-9)
    theirs = formats._relion_eulers(euler_to_matrix(*zxz.T))
    np.testing.assert_allclose(relion_matrix(*theirs.T), euler_to_matrix(*zxz.T), atol=1e-9)
    np.testing.assert_allclose(relion_matrix(*matrix_to_relion(rotations).T), rotations, atol=1e-9)


def test_rotate_volume_moves_a_voxel_as_the_matrix_says():
    volume = np.zeros((15, 15, 15), dtype=np.float32)
    volume[7, 7, 7 + 4] = 1.0                      # x = +4 from the centre
    turned = rotate_volume(volume, euler_to_matrix(90, 0, 0), order=1)
    z, y, x = np.unravel_index(np.argmax(turned), turned.shape)
    assert (x - 7, y - 7, z - 7) == (0, 4, 0)      # now at y = +4


def test_uniform_rotations_have_uniform_axis_directions(rng):
    # Haar measure: R @ e_z is uniform on the sphere, so its z component is uniform on [-1, 1].
    from scipy import stats
    zcomp = random_rotations(4000, rng)[:, 2, 2]
    assert stats.kstest(zcomp, "uniform", args=(-1, 2)).pvalue > 0.01
