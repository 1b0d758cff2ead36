"""Membranes, filaments, fiducials, ice, clusters and compaction, each against an independent expectation."""

import numpy as np
from scene_testlib import NO_EXTRAS, small_params

from generator.scene import SceneParams, build_scene
from generator.scene.canvas import Canvas
from generator.scene.compaction import relax
from generator.scene.filaments import UNITS_A, centreline, unit_spheres
from generator.scene.membranes import add_membranes, render_membrane
from generator.scene.params import MembraneParams
from tomobench.euler import euler_to_matrix


def test_bilayer_profile_two_leaflets_at_the_thickness():
    # a vesicle of radius 20 voxels, leaflets 4 voxels apart, sigma 0.7: the radial profile peaks at 18 and 22
    density, mask, origin, d = render_membrane("sphere", np.array([20.0]), np.eye(3), np.array([40.0, 40, 40]),
                                               4.0, 0.7, 1.0)
    c = (np.array([40, 40, 40]) - origin).astype(int)
    line = density[c[0], c[1], c[2]:]            # along +x from the centre
    peaks = [i for i in range(1, len(line) - 1) if line[i] > line[i - 1] and line[i] >= line[i + 1] and line[i] > 0.5]
    assert peaks == [18, 22]
    assert line[20] < 0.3 * line[18]             # the gap between the leaflets
    radii = np.linalg.norm(np.argwhere(mask) - c, axis=1)
    assert radii.min() >= 20 - 2 - 0.7 - 1e-6 and radii.max() <= 20 + 2 + 0.7 + 1e-6


def test_torus_and_ellipsoid_surfaces():
    m = np.eye(3)
    _, _, origin, d = render_membrane("torus", np.array([15.0, 5.0]), m, np.array([30.0, 30, 30]), 3.0, 0.6, 1.0)
    # a point on the tube surface: (x, y, z) = (30 + 20, 30, 30)
    assert abs(d[tuple(np.array([30, 30, 50]) - origin)]) < 1e-5
    _, _, o2, d2 = render_membrane("ellipsoid", np.array([10.0, 6.0, 4.0]), m, np.array([20.0, 20, 20]), 3.0, 0.6, 1.0)
    for p_xyz in ([30, 20, 20], [20, 26, 20], [20, 20, 24]):
        assert abs(d2[tuple(np.array(p_xyz)[::-1] - o2)]) < 1e-5


def test_membrane_bound_particles_point_along_the_normal(toy):
    params = SceneParams(shape_xyz=(96, 96, 80), slab_thickness_vox=None, n_particles=20,
                         class_proportions={"asym": 1.0}, ice=dict(enabled=False),
                         membranes=dict(n_vesicles=1, n_ellipsoids=0, radius_range_a=(250.0, 250.0),
                                        bound_classes=["asym"], bound_fraction=1.0),
                         filaments=dict(n_microtubules=0, n_actin=0), fiducials=dict(count=0))
    scene = build_scene(toy, params, np.random.default_rng(2))
    df = scene.particles
    ves = df[df["kind"] == "vesicle"].iloc[0]
    bound = df[df["kind"] == "protein"]
    assert len(bound) >= 10
    for row in bound.itertuples():
        radial = np.array([row.x - ves.x, row.y - ves.y, row.z - ves.z], dtype=float)
        dist = np.linalg.norm(radial)
        z_axis = euler_to_matrix(row.phi, row.theta, row.psi)[:, 2]
        assert abs(np.dot(z_axis, radial / dist)) > 0.97          # along the normal (either side)
        assert abs(dist - 25) < 12                                 # next to the membrane, not far away


def test_membrane_insertion_respects_the_sample():
    canvas = Canvas((64, 64, 40), (5, 35))
    rng = np.random.default_rng(0)
    p = MembraneParams(n_vesicles=3, n_ellipsoids=1, n_tori=1, radius_range_a=(60.0, 120.0))
    surfaces, rep = add_membranes(canvas, p, rng, 10.0, 1.0, {"vesicle": 1, "membrane": 2})
    assert sum(rep["placed"].values()) == len(canvas.records) == len(surfaces) >= 3
    assert not canvas.ids[:5].any() and not canvas.ids[35:].any()


def test_worm_like_chain_persistence():
    rng = np.random.default_rng(4)
    step, persistence, lag = 1.0, 20.0, 10
    cosines = []
    for _ in range(200):
        _, tans, nrms = centreline(np.zeros(3), np.array([0, 0, 1.0]), 60, step, persistence, rng)
        cosines.extend(np.sum(tans[:-lag] * tans[lag:], axis=1))
        assert np.allclose(np.sum(tans * nrms, axis=1), 0, atol=1e-9)
    assert abs(np.mean(cosines) - np.exp(-lag * step / persistence)) < 0.03


def test_filament_units_geometry():
    t, n = np.array([0, 0, 1.0]), np.array([1.0, 0, 0])
    mt = unit_spheres("microtubule", np.zeros(3), t, n, 0, 10.0, 0.0)
    assert mt.shape == (13, 3) and np.allclose(np.linalg.norm(mt, axis=1), 12.5) and np.allclose(mt[:, 2], 0)
    a0 = unit_spheres("actin", np.zeros(3), t, n, 0, 10.0, 0.0)
    a1 = unit_spheres("actin", np.zeros(3), t, n, 1, 10.0, 0.0)
    assert np.allclose(np.linalg.norm(a0[0] - a0[1]), 5.0)         # spheres 50 A apart
    turn = np.arctan2(a1[0, 1], a1[0, 0]) - np.arctan2(a0[0, 1], a0[0, 0])
    assert np.isclose(turn, 2 * np.pi / 12.5) and UNITS_A["actin"][0] == 25.0


def test_filaments_grow_without_overlap(toy):
    params = small_params(n_particles=10, filaments=dict(n_microtubules=1, n_actin=3, length_range_a=(500.0, 900.0)),
                          shape_xyz=(128, 128, 64), slab_thickness_vox=60)
    scene = build_scene(toy, params, np.random.default_rng(1))
    fil = scene.particles[scene.particles["kind"] == "filament"]
    assert set(fil["class"]) <= {"microtubule", "actin"} and len(fil) >= 2
    counts = np.bincount(scene.occupancy.ravel().astype(np.int64), minlength=len(scene.particles) + 1)
    assert np.array_equal(counts[1:], scene.particles["voxels"].to_numpy())
    for row in scene.report.filaments.lengths_a:
        assert row >= 300.0


def test_fiducials_and_ice_levels(toy):
    params = SceneParams(shape_xyz=(64, 64, 40), slab_thickness_vox=30, n_particles=3,
                         fiducials=dict(count=3, diameter_range_a=(80.0, 80.0), relative_density=4.0),
                         membranes=dict(n_vesicles=0, n_ellipsoids=0), filaments=dict(n_microtubules=0, n_actin=0),
                         ice=dict(density_g_cm3=0.93, noise_sigma=0.01))
    scene = build_scene(toy, params, np.random.default_rng(0))
    ref = scene.report.protein_reference
    fid = scene.particles[scene.particles["kind"] == "fiducial"]
    assert len(fid) == 3
    # solid gold displaces its volume fraction 4 ref / 7.94 V of the 4.53 V ice (the toy library is
    # not in volts, so some ice stays; a library in volts has gold above 7.94 V and no ice inside)
    gold = 4.0 * ref
    expected = gold + 4.526 * max(0.0, 1.0 - gold / 7.941)
    for row in fid.itertuples():
        assert abs(scene.grandmodel[row.z, row.y, row.x] - expected) < 0.05 * gold
    z0, z1 = params.slab_z
    far = scene.grandmodel[z0:z1][scene.class_mask[z0:z1] == 0]
    assert abs(np.median(far) - 4.526) < 0.01          # water at 0.93 g/cm³ (test_ice_potential_of_a_water_box)
    # vacuum outside the slab, but for spline tails (below the 0.1 x peak mask threshold) of particles at its faces
    outside = np.concatenate([scene.grandmodel[:z0].ravel(), scene.grandmodel[z1:].ravel()])
    assert np.abs(outside).max() < 0.1 * max(t.max() for t in toy.templates.values())
    assert 0.005 * 7.94 < np.std(scene.grandmodel[z0 + 2, :8, :8]) < 0.02 * 7.94     # noise_sigma x bulk protein


def test_sawlc_cluster_members_are_neighbours(toy):
    params = small_params(n_particles=40, clusters=dict(enabled=True, fraction=1.0, mean_size=8),
                          **NO_EXTRAS)
    scene = build_scene(toy, params, np.random.default_rng(3))
    df = scene.particles
    clustered = df[df["cluster"] > 0]
    assert len(clustered) > 0.8 * len(df)
    sizes = clustered.groupby("cluster").size()
    assert sizes.max() >= 3
    for _cid, group in clustered.groupby("cluster"):
        if len(group) < 2:
            continue
        pts = group[["x", "y", "z"]].to_numpy(float)
        d = np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(len(pts)) * 1e9
        assert d.min(1).max() < 20          # every member has a chain neighbour within two diameters


def test_relax_separates_and_gathers():
    # two overlapping unit-ball bodies far from the target: they separate and both move toward it
    rel = [np.array([[0, 0, 0, 2.0]]), np.array([[0, 0, 0, 2.0]])]
    start = np.array([[10.0, 10, 10], [11.0, 10, 10]])
    bounds = [(np.zeros(3), np.full(3, 100.0))] * 2
    out = relax(start, rel, np.array([50.0, 50, 50]), bounds, iterations=40, step=1.0, core=10.0)
    assert np.linalg.norm(out[0] - out[1]) > 3.5
    assert (np.linalg.norm(out - 50, axis=1) < np.linalg.norm(start - 50, axis=1)).all()


def test_compaction_keeps_the_invariants_and_densifies(toy):
    base = dict(shape_xyz=(64, 64, 40), slab_thickness_vox=None, occupancy=0.5, max_failures=30, **NO_EXTRAS)
    plain = build_scene(toy, SceneParams(**base), np.random.default_rng(1))
    comp = build_scene(toy, SceneParams(**base, compaction=dict(enabled=True, rounds=2, iterations=30)),
                       np.random.default_rng(1))
    counts = np.bincount(comp.occupancy.ravel().astype(np.int64), minlength=len(comp.particles) + 1)
    assert np.array_equal(counts[1:], comp.particles["voxels"].to_numpy())
    assert list(comp.particles["id"]) == list(range(1, len(comp.particles) + 1))
    assert comp.report.occupancy_protein >= plain.report.occupancy_protein


def test_refill_chains_get_new_cluster_ids(toy):
    # one round of compaction + refill with every particle in chains: the refill's chains continue the
    # cluster ids of the first pass instead of starting again at 1 (one id = one chain)
    params = SceneParams(shape_xyz=(64, 64, 40), slab_thickness_vox=None, occupancy=0.5, max_failures=30,
                         clusters=dict(enabled=True, fraction=1.0, mean_size=4),
                         compaction=dict(enabled=True, rounds=1, iterations=30), **NO_EXTRAS)
    scene = build_scene(toy, params, np.random.default_rng(1))
    refilled = scene.report.compaction.rounds[0].refilled
    first_next = scene.report.particles.next_cluster
    df = scene.particles                                   # ids in insertion order: the refill comes last
    first, refill = df.iloc[:len(df) - refilled], df.iloc[len(df) - refilled:]
    assert refilled > 0 and (refill["cluster"] > 0).any()
    assert first["cluster"].between(1, first_next - 1).all()
    assert (refill["cluster"] >= first_next).all()


def test_settle_moves_bodies_toward_the_centre_without_overlap(toy):
    from generator.scene.compaction import settle
    from generator.scene.packing import BallIndex, try_place
    from generator.scene.templates import prepare_shape

    canvas = Canvas((48, 48, 48), (0, 48))
    shape = prepare_shape("rod", 1, toy.templates["rod"], None, 10.0, 0.1)
    index = BallIndex()
    a = try_place(canvas, index, shape, np.eye(3), (10, 24, 24), "voxel", keep_crop=True)
    b = try_place(canvas, index, shape, np.eye(3), (38, 24, 24), "voxel", keep_crop=True)
    voxels = canvas.occupied_voxels()
    moves = settle([a.id, b.id], canvas, np.array([23.5, 24.0, 24.0]), passes=30)
    assert moves > 0
    gap = canvas.records[b.id].centre_xyz[0] - canvas.records[a.id].centre_xyz[0]
    assert gap < 28                                           # closer together
    assert canvas.occupied_voxels() == voxels == np.count_nonzero(canvas.ids)
    assert set(np.unique(canvas.ids)) == {0, a.id, b.id}
    # touching, not overlapping: the rods (mask ~17 voxels long) end up side by side along x
    assert gap >= 14


def test_scene_report_round_trips_and_its_schema_is_committed(tmp_path, toy):
    from pathlib import Path

    from generator.scene.report import SceneReport, schema_json
    from generator.scene.truth import REPORT, write_ground_truth

    scene = build_scene(toy, small_params(compaction=dict(enabled=True, rounds=1)), np.random.default_rng(4))
    write_ground_truth(scene, tmp_path)
    back = SceneReport.read(tmp_path / REPORT)
    assert back.particles.placed == scene.report.particles.placed
    assert back.compaction is not None and len(back.compaction.rounds) == 1
    assert back.n_objects == len(scene.particles)
    plain = build_scene(toy, small_params(membranes=dict(n_vesicles=0, n_ellipsoids=0)), np.random.default_rng(4))
    assert "compaction" not in plain.report.to_json() and "membrane_bound" not in plain.report.to_json()
    committed = Path(__file__).resolve().parents[2] / "docs" / "scene_report.schema.json"
    assert committed.read_text(encoding="utf-8") == schema_json(), "regenerate: python scripts/write_schemas.py"


def _water_box(edge_a: float, density_g_cm3: float, rng: np.random.Generator):
    """Explicit O and H atoms of water molecules at random positions in a periodic cube (no implicit H)."""
    from generator.structures.atoms import AtomSet

    n_mol = int(round(density_g_cm3 * 0.602214076 / 18.015 * edge_a ** 3))
    o = rng.random((n_mol, 3)) * edge_a
    h = np.concatenate([o + 0.96 * d / np.linalg.norm(d, axis=1, keepdims=True)
                        for d in (rng.normal(size=(n_mol, 3)), rng.normal(size=(n_mol, 3)))]) % edge_a
    xyz = np.concatenate([o, h])
    z = np.concatenate([np.full(n_mol, 8), np.ones(2 * n_mol, np.int64)])
    return AtomSet(xyz, z, np.zeros(len(z), np.int64), np.ones(len(z)))


def test_ice_potential_of_a_water_box():
    # isolated-atom water rendered through the template path (Peng factors, periodic box):
    # 4.5 V ± 3 %, and the scene's ice level is that same number, whatever the library
    from generator.scene.params import IceParams
    from generator.scene.solvent import add_ice
    from generator.structures.potential import potential_from_atoms

    edge_vox, voxel_a = 8, 10.0
    atoms = _water_box(edge_vox * voxel_a, 0.93, np.random.default_rng(0))
    box = potential_from_atoms(atoms, voxel_a, n_voxels=edge_vox, centre_a=np.full(3, edge_vox // 2 * voxel_a))
    assert abs(box.mean() - 4.5) < 0.03 * 4.5
    slab = np.zeros((4, 6, 6), np.float32)
    add_ice(slab, (0, 4), IceParams(density_g_cm3=0.93, noise_sigma=0.0), np.random.default_rng(0))
    assert np.allclose(slab, box.mean(), rtol=2e-3)
    # a voxel that is protein through and through (bulk potential 7.94 V) displaces all the ice
    full = np.full((1, 2, 2), 7.941, np.float32)
    add_ice(full, (0, 1), IceParams(noise_sigma=0.0), np.random.default_rng(0))
    assert np.allclose(full, 7.941)
