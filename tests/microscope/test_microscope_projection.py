"""The projector against analytic projections."""

import numpy as np
import pytest

from generator.microscope.projector import depth_extent, project, view_matrix


def _sphere(shape, centre_zyx, radius, supersample=4):
    """Sphere with partial-volume voxels (fraction of each voxel inside)."""
    nz, ny, nx = shape
    offs = (np.arange(supersample) + 0.5) / supersample - 0.5
    vol = np.zeros(shape, np.float64)
    z, y, x = np.mgrid[:nz, :ny, :nx].astype(float)
    for dz in offs:
        for dy in offs:
            for dx in offs:
                vol += ((z + dz - centre_zyx[0]) ** 2 + (y + dy - centre_zyx[1]) ** 2
                        + (x + dx - centre_zyx[2]) ** 2) <= radius**2
    return (vol / supersample**3).astype(np.float32)


def test_projection_at_zero_is_the_chord_length_of_a_sphere():
    r = 9.0
    vol = _sphere((32, 40, 40), (16, 20, 20), r)
    p = project(vol, [0.0]).numpy()[0]
    yy, xx = np.mgrid[:40, :40].astype(float)
    offs = (np.arange(4) + 0.5) / 4 - 0.5  # the analytic chord averaged over each pixel's area
    chord = np.mean([2 * np.sqrt(np.clip(r**2 - (yy + dy - 20) ** 2 - (xx + dx - 20) ** 2, 0, None))
                     for dy in offs for dx in offs], axis=0)
    assert np.abs(p - chord).max() < 0.3
    assert p.max() == pytest.approx(2 * r, abs=0.2)


@pytest.mark.parametrize("angle", [-60.0, -30.0, 20.0, 45.0, 55.0])
def test_projection_of_a_centred_sphere_is_rotation_invariant_and_conserves_mass(angle):
    r = 7.0
    vol = _sphere((30, 24, 40), (15, 12, 20), r)
    p0, p = project(vol, [0.0, angle]).numpy()
    assert p.sum() == pytest.approx(vol.sum(), rel=3e-3)
    # a sphere at the rotation centre projects the same at every tilt (up to interpolation)
    assert np.abs(p - p0).max() < 0.6


def test_projection_at_90_degrees_sums_along_x():
    rng = np.random.default_rng(0)
    vol = rng.random((20, 8, 20)).astype(np.float32)
    p = project(vol, [90.0]).numpy()[0]  # [y, u] with u = z
    assert np.allclose(p, vol.sum(axis=2).T, atol=1e-4)


def test_off_centre_point_moves_as_x_cos_plus_z_sin():
    z, x = np.mgrid[:40, :64]
    blob = np.exp(-((z - 30) ** 2 + (x - 38) ** 2) / (2 * 2.0**2))  # z = +10, x = +6 from the centre voxel
    vol = np.repeat(blob[:, None, :], 4, axis=1).astype(np.float32)
    for angle in (-50.0, 25.0):
        p = project(vol, [angle]).numpy()[0, 0]
        u = (p * np.arange(64)).sum() / p.sum() - 32
        t = np.deg2rad(angle)
        assert u == pytest.approx(6 * np.cos(t) + 10 * np.sin(t), abs=0.05)


def test_slabs_partition_the_projection():
    rng = np.random.default_rng(1)
    vol = rng.random((24, 6, 32)).astype(np.float32)
    import torch

    from generator.microscope.projector import project_slabs, volume_rows
    rows = volume_rows(torch.from_numpy(vol))
    whole = project_slabs(rows, view_matrix(35.0, 24, 32))
    slabs = project_slabs(rows, view_matrix(35.0, 24, 32, slab_vox=5.0))
    lo, hi = depth_extent(np.deg2rad(35.0), 24, 32)
    assert slabs.shape[0] == int(np.ceil((hi - lo) / 5.0))
    assert torch.allclose(slabs.sum(0), whole[0], atol=1e-4)
