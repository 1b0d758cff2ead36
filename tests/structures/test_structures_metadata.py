"""Isosurface metrics of analytic shapes and the class record."""

import math

import numpy as np
import pytest

from generator.structures.metadata import class_record, isosurface_metrics, sphericity


def smooth_ball(n, radius_vox, centre=None):
    c = np.full(3, (n - 1) / 2) if centre is None else np.asarray(centre, float)
    zz, yy, xx = np.indices((n, n, n))
    r = np.sqrt((zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
    return 0.5 * (1 - np.tanh((r - radius_vox) / 1.0))      # crosses 0.5 at the radius


@pytest.mark.parametrize("voxel", [1.0, 10.0])
def test_sphere_volume_area_sphericity(voxel):
    radius_vox = 12.0
    m = isosurface_metrics(smooth_ball(36, radius_vox), voxel, 0.5)
    r_nm = radius_vox * voxel / 10.0
    assert m.volume_nm3 == pytest.approx(4 / 3 * math.pi * r_nm ** 3, rel=0.05)
    assert m.area_nm2 == pytest.approx(4 * math.pi * r_nm ** 2, rel=0.05)
    assert m.sphericity == pytest.approx(1.0, abs=0.05)
    assert m.eff_radius_nm == pytest.approx(r_nm, rel=0.05)


def test_partial_volume_voxelized_sphere_within_five_percent():
    # each voxel holds the fraction of its volume inside the sphere (4^3 sub-samples)
    n, radius, sub = 40, 14.0, 4
    f = (np.arange(n * sub) + 0.5) / sub - 0.5
    inside = ((f[:, None, None] - 19.5) ** 2 + (f[None, :, None] - 19.5) ** 2 + (f[None, None, :] - 19.5) ** 2
              <= radius ** 2)
    frac = inside.reshape(n, sub, n, sub, n, sub).mean(axis=(1, 3, 5))
    m = isosurface_metrics(frac, 10.0, 0.5)
    assert m.volume_nm3 == pytest.approx(4 / 3 * math.pi * 14 ** 3, rel=0.05)
    assert m.area_nm2 == pytest.approx(4 * math.pi * 14 ** 2, rel=0.05)
    assert m.sphericity == pytest.approx(1.0, abs=0.05)


def test_box_sphericity_matches_analytic():
    vol = np.zeros((30, 30, 30))
    vol[5:25, 10:20, 10:20] = 1.0                            # 20 x 10 x 10 voxels
    m = isosurface_metrics(vol, 1.0, 0.5)
    # marching cubes bevels the edges, so compare with the bevel-free value loosely
    assert m.sphericity == pytest.approx(sphericity(2000, 1000), abs=0.06)
    assert sphericity(2000, 1000) < 0.85


def test_level_outside_range_gives_nan():
    with pytest.warns(UserWarning):
        m = isosurface_metrics(np.zeros((8, 8, 8)), 1.0, 0.5)
    assert math.isnan(m.volume_nm3)


def test_class_record_size_groups():
    m = isosurface_metrics(smooth_ball(20, 6), 10.0, 0.5)
    assert class_record("a", 1, "", 150.0, m, 3.0)["size_group"] == "small"
    assert class_record("a", 1, "", 400.0, m, 3.0)["size_group"] == "medium"
    row = class_record("a", 1, "", 900.0, m, 3.0)
    assert row["size_group"] == "large" and row["kind"] == "protein" and row["scored"] is True
