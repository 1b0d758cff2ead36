"""The ground-truth invariants of issue 4 on a small scene with every kind of object."""

import numpy as np
import pandas as pd
from scene_testlib import NO_EXTRAS, small_params
from scipy import stats

from generator.scene import SceneParams, build_scene, write_ground_truth
from generator.scene.packing import RotationPool
from generator.scene.templates import prepare_shape, render
from tomobench.euler import euler_to_matrix, matrix_to_euler, random_rotations
from tomobench.groundtruth import load_truth
from tomobench.rotate import rotate_volume


def test_every_kind_is_present(small_scene):
    kinds = set(small_scene.particles["kind"])
    assert {"protein", "vesicle", "membrane", "filament", "fiducial"} <= kinds
    assert (small_scene.particles["cluster"] > 0).any()
    assert small_scene.report.membrane_bound.placed["asym"] > 0


def test_ids_match_particle_lines(small_scene):
    df = small_scene.particles
    assert list(df["id"]) == list(range(1, len(df) + 1))
    ids = np.unique(small_scene.occupancy)
    assert set(ids[ids > 0]) == set(df["id"])


def test_class_mask_is_the_class_of_the_occupancy_id(small_scene):
    occ, cls = small_scene.occupancy, small_scene.class_mask
    lut = np.zeros(len(small_scene.particles) + 1, dtype=np.int64)
    lut[small_scene.particles["id"]] = small_scene.particles["label"]
    inside = occ > 0
    assert np.array_equal(lut[occ[inside]], cls[inside].astype(np.int64))
    assert not cls[~inside].any()
    names = small_scene.classes.name_of_label()
    assert all(names[lab] == c for lab, c in zip(small_scene.particles["label"], small_scene.particles["class"]))


def test_no_voxel_belongs_to_two_particles(small_scene):
    # each object's mask was counted when it was added; an overwritten voxel would make the map hold fewer
    counts = np.bincount(small_scene.occupancy.ravel().astype(np.int64), minlength=len(small_scene.particles) + 1)
    assert np.array_equal(counts[1:], small_scene.particles["voxels"].to_numpy())


def test_bounding_boxes_hold_each_mask(small_scene):
    occ = small_scene.occupancy
    for row in small_scene.particles.itertuples():
        box = occ[row.bbox_z0:row.bbox_z1, row.bbox_y0:row.bbox_y1, row.bbox_x0:row.bbox_x1]
        assert (box == row.id).sum() == row.voxels


def test_compact_objects_centroid_on_centre(small_scene):
    occ = small_scene.occupancy
    df = small_scene.particles[small_scene.particles["kind"].isin(["protein", "fiducial"])]
    assert len(df) > 20
    for row in df.itertuples():
        zz, yy, xx = np.nonzero(occ[row.bbox_z0:row.bbox_z1, row.bbox_y0:row.bbox_y1, row.bbox_x0:row.bbox_x1]
                                == row.id)
        centroid = np.array([xx.mean() + row.bbox_x0, yy.mean() + row.bbox_y0, zz.mean() + row.bbox_z0])
        assert np.linalg.norm(centroid - [row.x, row.y, row.z]) <= 1.0, row


def test_particles_inside_slab(small_scene):
    z0, z1 = small_params().slab_z
    assert (small_scene.particles["bbox_z0"] >= z0).all() and (small_scene.particles["bbox_z1"] <= z1).all()
    assert not small_scene.occupancy[:z0].any() and not small_scene.occupancy[z1:].any()


def _region_correlation(scene, template, row, matrix, margin=None):
    """Correlation of the rotated template placed at the stored centre with the grandmodel.

    Over the template's box, or (``margin``) over the particle's bounding box grown by ``margin``.
    """
    n = template.shape[0]
    model = np.zeros([s + 2 * n for s in scene.grandmodel.shape], dtype=np.float32)
    lo = np.array([row.z, row.y, row.x]) - n // 2 + n
    model[lo[0]:lo[0] + n, lo[1]:lo[1] + n, lo[2]:lo[2] + n] = rotate_volume(template, matrix)
    model = model[n:-n, n:-n, n:-n]
    if margin is None:
        box = tuple(slice(max(a, 0), a + n) for a in lo - n)
    else:
        box = tuple(slice(max(a - margin, 0), b + margin) for a, b in
                    ((row.bbox_z0, row.bbox_z1), (row.bbox_y0, row.bbox_y1), (row.bbox_x0, row.bbox_x1)))
    return np.corrcoef(scene.grandmodel[box].ravel(), model[box].ravel())[0, 1]


def test_rotation_convention_isolated_particle(toy):
    params = SceneParams(shape_xyz=(48, 48, 48), slab_thickness_vox=None, n_particles=1,
                         class_proportions={"asym": 1.0}, ice=dict(enabled=False), **NO_EXTRAS)
    for seed in range(4):
        scene = build_scene(toy, params, np.random.default_rng(seed))
        row = next(scene.particles.itertuples())
        template = toy.templates["asym"]
        matrix = euler_to_matrix(row.phi, row.theta, row.psi)
        assert _region_correlation(scene, template, row, matrix) > 0.99
        # the test can fail: the inverse rotation (the other convention) does not reproduce it
        assert _region_correlation(scene, template, row, matrix.T) < 0.9


def test_render_equals_rotate_volume(toy):
    # render interpolates only where the rotated support reaches: there it is rotate_volume (same spline
    # coefficients); outside it leaves out the template's tail below the support cut, < 5e-3 of the peak
    for name, template in toy.templates.items():
        shape = prepare_shape(name, 1, template, toy.balls.get(name), toy.voxel_size_a, 0.1)
        peak, n = float(template.max()), 2 * max(template.shape) + 8
        for matrix in random_rotations(30, np.random.default_rng(0)):
            density, _, offset = render(shape, matrix)
            ref = rotate_volume(template, matrix, output_shape=(n, n, n))     # wide enough for any turn
            crop = tuple(slice(n // 2 + o, n // 2 + o + s) for o, s in zip(offset, density.shape))
            full = np.zeros_like(ref)
            full[crop] = density
            inside = np.zeros(ref.shape, dtype=bool)
            inside[crop] = density != 0
            assert np.abs(full - ref)[inside].max() < 1e-6 * peak, name
            assert np.abs(full - ref).max() < 5e-3 * peak, name


def test_rotation_convention_in_crowded_scene(toy):
    params = small_params(ice=dict(enabled=False), **NO_EXTRAS, clusters=dict(enabled=False), n_particles=25)
    scene = build_scene(toy, params, np.random.default_rng(3))
    df = scene.particles
    checked = 0
    for row in df.itertuples():
        others = df[df["id"] != row.id]
        lo = np.array([row.bbox_x0, row.bbox_y0, row.bbox_z0]) - 4
        hi = np.array([row.bbox_x1, row.bbox_y1, row.bbox_z1]) + 4
        overlap = ((others[["bbox_x1", "bbox_y1", "bbox_z1"]].to_numpy() > lo)
                   & (others[["bbox_x0", "bbox_y0", "bbox_z0"]].to_numpy() < hi)).all(1)
        if overlap.any():
            continue
        matrix = euler_to_matrix(row.phi, row.theta, row.psi)
        assert _region_correlation(scene, toy.templates[row._2], row, matrix, margin=2) > 0.99
        assert _region_correlation(scene, toy.templates[row._2], row, matrix.T, margin=2) < 0.95
        checked += 1
    assert checked >= 3


def test_uniform_so3_sampling():
    rng = np.random.default_rng(11)
    pool = RotationPool(rng)
    mats = np.array([pool.next() for _ in range(3000)])   # the batched path the packer uses
    angles = matrix_to_euler(mats)       # what the particle tables store
    back = euler_to_matrix(angles[:, 0], angles[:, 1], angles[:, 2])
    omega = np.arccos(np.clip((np.trace(back, axis1=1, axis2=2) - 1) / 2, -1, 1))
    # Haar measure: rotation angle has CDF (w - sin w) / pi; cos(theta) uniform; phi, psi uniform
    assert stats.kstest(omega, lambda w: (w - np.sin(w)) / np.pi).pvalue > 0.001
    assert stats.kstest(np.cos(np.radians(angles[:, 1])), "uniform", args=(-1, 2)).pvalue > 0.001
    assert stats.kstest(angles[:, 0], "uniform", args=(-180, 360)).pvalue > 0.001
    assert stats.kstest(angles[:, 2], "uniform", args=(-180, 360)).pvalue > 0.001
    # the test can fail: uniform Euler angles are not uniform rotations
    naive = euler_to_matrix(*rng.uniform([-180, 0, -180], [180, 180, 180], (3000, 3)).T)
    w = np.arccos(np.clip((np.trace(naive, axis1=1, axis2=2) - 1) / 2, -1, 1))
    assert stats.kstest(w, lambda w: (w - np.sin(w)) / np.pi).pvalue < 1e-6


def test_scene_angles_uniform(small_scene):
    df = small_scene.particles[small_scene.particles["kind"] == "protein"]
    cos_theta = np.cos(np.radians(df["theta"]))
    assert stats.kstest(cos_theta, "uniform", args=(-1, 2)).pvalue > 0.001


def test_written_truth_round_trip_and_determinism(toy, tmp_path):
    params = small_params(shape_xyz=(64, 64, 40), slab_thickness_vox=36, n_particles=25)
    a, b = tmp_path / "a", tmp_path / "b"
    write_ground_truth(build_scene(toy, params, np.random.default_rng(5)), a)
    write_ground_truth(build_scene(toy, params, np.random.default_rng(5)), b)
    names = sorted(p.name for p in a.iterdir())
    assert {"grandmodel.mrc", "class_mask.mrc", "occupancy_mask.mrc", "particle_locations.txt",
            "particles.parquet", "classes.csv", "ground_truth.png"} <= set(names)
    for name in names:              # write_volume writes a fixed header label: .mrc files compare too
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    truth = load_truth(a)
    df = pd.read_parquet(a / "particles.parquet")
    assert len(truth.particles) == len(df)
    assert (truth.particles[["x", "y", "z"]].to_numpy() == df[["x", "y", "z"]].to_numpy()).all()
    assert list(truth.particles["class"]) == list(df["class"])
    assert set(np.unique(truth.occupancy)) - {0} == set(df["id"])
    assert truth.classes is not None and not truth.classes.is_scored("vesicle")
    c = build_scene(toy, params, np.random.default_rng(6))
    assert not np.array_equal(c.occupancy, truth.occupancy)


def test_threads_do_not_change_the_scene(toy):
    one = build_scene(toy, small_params(render_threads=1), np.random.default_rng(9))
    two = build_scene(toy, small_params(render_threads=2), np.random.default_rng(9))
    assert np.array_equal(one.occupancy, two.occupancy) and np.array_equal(one.grandmodel, two.grandmodel)
    pd.testing.assert_frame_equal(one.particles, two.particles)
