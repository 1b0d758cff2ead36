"""Sphere targets of the U-Net (baselines.unet.targets), checked by hand."""

from __future__ import annotations

import numpy as np

from baselines.unet.targets import effective_radii_vox, sphere_targets


def test_ball_has_the_hand_counted_voxels_and_class():
    # radius 1: the centre and its 6 face neighbours (distance 1); the 12 edge neighbours are at sqrt(2)
    t = sphere_targets((9, 9, 9), np.array([[4.0, 4.0, 4.0]]), np.array([3]), np.array([0, 0, 0, 1.0]))
    assert t.dtype == np.uint8
    assert int((t == 3).sum()) == 7 and int((t > 0).sum()) == 7
    assert t[4, 4, 5] == 3 and t[4, 5, 5] == 0
    # radius sqrt(2) adds the 12 edge neighbours: 19 voxels
    t = sphere_targets((9, 9, 9), np.array([[4.0, 4.0, 4.0]]), np.array([1]), np.array([0, np.sqrt(2) + 1e-9]))
    assert int((t == 1).sum()) == 19


def test_xyz_order_border_clipping_and_centres_keep_their_class():
    # x=1, y=2, z=3 -> array index [3, 2, 1]; a ball at the border is clipped, not wrapped
    radius = np.array([0, 2.0, 0.4])
    t = sphere_targets((5, 6, 7), np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([1, 2]), radius)
    assert t[3, 2, 1] == 1 and t[0, 0, 0] == 2
    assert t[4, 5, 6] == 0 and t[3, 2, 3] == 1 and t[3, 2, 4] == 0
    # a later, larger ball over an earlier centre: that centre voxel keeps its own class
    t = sphere_targets((9, 9, 9), np.array([[4.0, 4.0, 4.0], [5.0, 4.0, 4.0]]), np.array([2, 1]),
                       np.array([0, 3.0, 0.5]))
    assert t[4, 4, 4] == 2 and t[4, 4, 5] == 1


def test_effective_radius_is_the_ball_of_the_median_count():
    r = effective_radii_vox({"a": [1, 4 * np.pi / 3 * 8, 1000]}, ["background", "a", "b"], default_vox=3.0)
    assert r[0] == 0 and np.isclose(r[1], 2.0) and r[2] == 3.0
