"""Template matching search: TM-F boundaries, point-group reduction, the erfc false-alarm rule, refinement."""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from classical_synth import asymmetric_template, blob_template, plant  # noqa: E402

from baselines.template_matching import so3  # noqa: E402
from baselines.template_matching.correlation import LocalCorrelator, normalise_under_mask, rotate_batch  # noqa: E402
from baselines.template_matching.matching import (  # noqa: E402
    CorrelationStats,
    PreparedTemplate,
    detect_symmetry,
    match_template,
    prepare_template,
)
from baselines.template_matching.refine import refine_candidates  # noqa: E402
from baselines.template_matching.search import ScanSettings, search_class  # noqa: E402
from baselines.template_matching.selection import false_alarm_cutoff, tm_f, tm_t  # noqa: E402
from baselines.template_matching.templates import spherical_mask  # noqa: E402
from tomobench.euler import euler_to_matrix  # noqa: E402
from tomobench.rotate import rotate_volume  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- TM-T / TM-F (SHREC 2020 section 3.7)

def _cands(rows):
    return pd.DataFrame(rows, columns=["class", "x", "y", "z", "score"])


@pytest.mark.parametrize("dx,overlaps", [(7.0, False), (6.99, True), (7.01, False), (0.0, True)])
def test_tm_f_overlap_is_distance_below_the_sum_of_radii(dx, overlaps):
    # radii 5 and 2: the sum is 7. A halved distance (3.5 < 7) or one radius alone (6.99 > 5) would fail here.
    radii = {"big": 5.0, "small": 2.0}
    cands = _cands([("big", 20.0, 20.0, 20.0, 0.9), ("small", 20.0 + dx, 20.0, 20.0, 0.8),
                    ("small", 60.0, 20.0, 20.0, 0.1)])
    f = tm_f(cands, {"big": 1, "small": 1}, radii)
    expect = 60.0 if overlaps else 20.0 + dx
    assert list(f["class"]) == ["big", "small"] and f["x"].iloc[1] == pytest.approx(expect)
    # TM-T never tests overlap: the best small candidate is taken whatever its distance
    t = tm_t(cands, {"big": 1, "small": 1}, radii)
    assert t["x"].iloc[1] == pytest.approx(20.0 + dx)


def test_tm_f_overlap_in_three_dimensions_and_within_a_class():
    # distance sqrt(3^2 + 4^2 + 0^2) = 5 against radii 2.5 + 2.5: exactly at the sum, kept;
    # a candidate of the same class at 4.99 is skipped (a particle cannot overlap one of its own class)
    radii = {"a": 2.5}
    cands = _cands([("a", 0, 0, 0, 0.9), ("a", 3, 4, 0, 0.8), ("a", 0, 0, 4.99, 0.7), ("a", 0, 0, 20, 0.6)])
    f = tm_f(cands, {"a": 3}, radii)
    assert list(zip(f["x"], f["y"], f["z"])) == [(0, 0, 0), (3, 4, 0), (0, 0, 20)]
    t = tm_t(cands, {"a": 3}, radii)
    assert list(t["z"]) == [0, 0, 4.99]


def test_tm_t_and_tm_f_walk_classes_from_the_largest():
    # the smaller class by radius is heavier: with masses given, it is placed first and wins the overlap
    radii = {"wide": 6.0, "heavy": 3.0}
    cands = _cands([("wide", 10, 0, 0, 0.5), ("heavy", 12, 0, 0, 0.4)])
    by_radius = tm_f(cands, {"wide": 1, "heavy": 1}, radii)
    by_mass = tm_f(cands, {"wide": 1, "heavy": 1}, radii, size={"wide": 100.0, "heavy": 900.0})
    assert list(by_radius["class"]) == ["wide"] and list(by_mass["class"]) == ["heavy"]


# ---------------------------------------------------------------- point groups

def _d4_template() -> np.ndarray:
    """An exactly D4-symmetric template: the mean over D4 of voxel permutations (4-fold about z, 2-fold about x)."""
    a = asymmetric_template(21)                     # [z, y, x], centre index 10
    cyc = [np.rot90(a, k, axes=(1, 2)) for k in range(4)]
    flipped = [c[::-1, ::-1, :] for c in cyc]       # (x, y, z) -> (x, -y, -z)
    return np.mean(cyc + flipped, axis=0).astype(np.float32)


def test_detects_dihedral_and_cyclic_symmetry():
    d4 = detect_symmetry(_d4_template())
    assert (d4.kind, d4.order) == ("D", 4) and abs(d4.axis[2]) > 0.999     # axis along z
    assert np.abs(d4.alignment_matrix[:, 0]).max() > 0.999                 # a 2-fold along a box axis
    lopsided = blob_template(21, [(0, 0, 0, 2.5, 1.0), (5, 0, 3, 2.0, 1.0), (0, 3, -2, 1.5, 0.7)])
    c4 = detect_symmetry(np.mean([np.rot90(lopsided, k, axes=(1, 2)) for k in range(4)], axis=0))
    assert (c4.kind, c4.order) == ("C", 4) and abs(c4.axis[2]) > 0.999
    assert detect_symmetry(asymmetric_template(21)) == so3.PointGroup("C", 1)


def test_dihedral_reduction_gives_the_full_grid_scores():
    rng = np.random.default_rng(5)
    template = _d4_template()
    volume = rng.normal(0.0, 0.4, (30, 34, 32)).astype(np.float32)
    plant(volume, rotate_volume(template, euler_to_matrix(25.0, 60.0, 110.0)), (15, 17, 16))
    mask = spherical_mask(21, 8.0)
    full = PreparedTemplate("f", template, mask, 7.0, so3.sample_rotations(30.0), so3.PointGroup())
    d4 = so3.PointGroup("D", 4)
    reduced = PreparedTemplate("r", template, mask, 7.0, so3.sample_rotations(30.0, d4), d4)
    assert len(reduced.rotations) * 8 == len(full.rotations)
    s_full, _ = match_template(volume, full, tilt_range_deg=(-60.0, 60.0), progress=False)
    s_red, _ = match_template(volume, reduced, tilt_range_deg=(-60.0, 60.0), progress=False)
    assert s_red.max() == pytest.approx(s_full.max(), abs=1e-4)
    assert np.unravel_index(np.argmax(s_red), s_red.shape) == np.unravel_index(np.argmax(s_full), s_full.shape)
    assert np.abs(s_red - s_full).max() < 1e-4      # every voxel, not only the peak


# ---------------------------------------------------------------- erfc false-alarm rule

def _noise_case():
    rng = np.random.default_rng(11)
    volume = rng.normal(size=(40, 40, 40)).astype(np.float32)
    mask = spherical_mask(17, 6.0, 0.0)
    template = (rng.normal(size=(17, 17, 17)) * mask).astype(np.float32)   # white: scores nearly independent
    rotations = so3.sample_rotations(30.0)[::3]
    return volume, PreparedTemplate("n", template, mask, 6.0, rotations, so3.PointGroup())


def _all_scores(volume, tpl):
    corr = LocalCorrelator(volume, tpl.mask)
    t = torch.as_tensor(tpl.template)[None, None]
    with torch.no_grad():
        return torch.cat([corr.scores(normalise_under_mask(rotate_batch(t, tpl.rotations[i:i + 16]),
                                                           torch.as_tensor(tpl.mask)))
                          for i in range(0, len(tpl.rotations), 16)]).numpy()


def test_false_alarm_count_on_pure_noise_matches_its_expectation():
    volume, tpl = _noise_case()
    stats = CorrelationStats()
    best, _ = match_template(volume, tpl, tilt_range_deg=None, progress=False, stats=stats, stats_batches=4)
    every = _all_scores(volume, tpl)
    assert stats.trials == every.size
    assert stats.sigma == pytest.approx(float(np.sqrt((every ** 2).mean())), rel=0.02)   # sampled batches suffice
    for n_false in (30.0, 300.0):
        cut = false_alarm_cutoff(stats.sigma, volume.size, len(tpl.rotations), n_false)
        count = int((every > cut).sum())
        # Poisson spread plus a margin for the NCC's slightly lighter-than-Gaussian tail
        assert abs(count - n_false) <= 4 * math.sqrt(n_false) + 0.15 * n_false, (n_false, count)
        assert (best > cut).sum() <= count      # the best-score map cannot exceed more often than the trials


# ---------------------------------------------------------------- coarse-to-fine

def _templates(template, coarse_step, fine_step):
    opts = dict(radius_a=70.0, acquisition={}, sign=1.0, apply_ctf=False, symmetry=1)
    coarse = prepare_template("a", template, 10.0, 20.0, step_deg=coarse_step, **opts)
    fine = prepare_template("a", template, 10.0, 10.0, step_deg=fine_step, **opts)
    return coarse, fine


def _scene(seed, poses, centres, shape=(40, 48, 44), noise=0.3):
    rng = np.random.default_rng(seed)
    template = ndimage.gaussian_filter(asymmetric_template(21), 1.0)   # data are low-passed (CTF), so is this
    volume = rng.normal(0.0, noise, shape).astype(np.float32)
    for pose, c in zip(poses, centres):
        plant(volume, rotate_volume(template, euler_to_matrix(*pose)), c)
    return template, volume


def test_coarse_to_fine_recovers_a_planted_pose_within_the_final_step():
    truth = (40.0, 70.0, -100.0)
    template, volume = _scene(3, [truth], [(19, 23, 21)])
    coarse, fine = _templates(template, 30.0, 12.0)
    settings = ScanSettings(bin=2, tilt_range_deg=(-60.0, 60.0))
    found = search_class(volume, coarse, fine, settings=settings, n_candidates=3,
                         coarse_step_deg=30.0, fine_step_deg=12.0)
    assert np.abs(found.zyx[0] - np.array([19, 23, 21])).max() <= 0.5       # the exact voxel at full resolution
    assert so3.angular_distance_deg(found.rotations[0], euler_to_matrix(*truth))[0, 0] <= 12.0
    # cost: (rotation, position) scores, against every fine rotation at the 7^3 shifts of 3 candidates
    assert len(fine.rotations) > 2000 and found.refine_evaluations < 0.05 * 3 * len(fine.rotations) * 7 ** 3


def test_exhaustive_and_refined_searches_agree_on_a_small_case():
    poses, centres = [(40.0, 70.0, -100.0), (-150.0, 30.0, 20.0)], [(12, 14, 13), (27, 33, 30)]
    template, volume = _scene(8, poses, centres)
    coarse, fine = _templates(template, 30.0, 20.0)
    settings = ScanSettings(bin=2, tilt_range_deg=(-60.0, 60.0))
    exhaustive = search_class(volume, fine, None, settings=ScanSettings(bin=1, tilt_range_deg=(-60.0, 60.0)),
                              n_candidates=2)
    refined = search_class(volume, coarse, fine, settings=settings, n_candidates=4,
                           coarse_step_deg=30.0, fine_step_deg=20.0)
    assert {tuple(p) for p in exhaustive.zyx.astype(int)} == {tuple(c) for c in centres}
    for p, s, r in zip(exhaustive.zyx, exhaustive.scores, exhaustive.rotations):
        k = int(np.argmin(np.abs(refined.zyx - p).sum(axis=1)))
        assert np.array_equal(refined.zyx[k], p)
        assert refined.scores[k] == pytest.approx(s, abs=2e-4)          # the same NCC, not an approximation
        assert so3.angular_distance_deg(refined.rotations[k], r)[0, 0] < 1e-3


def test_screening_scores_are_the_exhaustive_full_resolution_maximum_over_each_binned_voxel():
    poses, centres = [(40.0, 70.0, -100.0), (-150.0, 30.0, 20.0)], [(12, 14, 13), (27, 33, 30)]
    template, volume = _scene(8, poses, centres)
    coarse, fine = _templates(template, 30.0, 20.0)
    # the exhaustive full-resolution kernel with the coarse grid: the screen's expectation, voxel by voxel
    seeds_tpl = prepare_template("a", template, 10.0, 10.0, step_deg=30.0, radius_a=70.0, acquisition={},
                                 sign=1.0, apply_ctf=False, symmetry=1)
    assert len(seeds_tpl.rotations) == len(coarse.rotations)
    exhaustive, _ = match_template(volume, seeds_tpl, tilt_range_deg=(-60.0, 60.0), progress=False)
    binned = np.array([[6, 7, 6], [13, 16, 15], [3, 20, 18], [17, 4, 9]])      # two particles' voxels, two not
    origins = 2 * binned
    refined = refine_candidates(volume, fine, origins, coarse.rotations[: len(origins)], radius_deg=50.0,
                                shift_vox=3, tilt_range_deg=(-60.0, 60.0), seed_rotations=coarse.rotations,
                                screen_keep=2, screen_origins=origins, cell_vox=2)
    cells = [exhaustive[o[0]:o[0] + 2, o[1]:o[1] + 2, o[2]:o[2] + 2].max() for o in origins]
    assert list(refined.kept) == [0, 1]                    # the two particles' voxels outscore the background
    assert min(cells[:2]) > max(cells[2:])
    # and the screening score itself is the exhaustive maximum over the 2^3 voxels of the binned voxel
    from baselines.template_matching.refine import TemplateBank, _Search, _Volume, screen_scores
    from baselines.template_matching.templates import wedge_mask
    wedge = torch.as_tensor(wedge_mask(seeds_tpl.template.shape, -60.0, 60.0))
    bank = TemplateBank(seeds_tpl, coarse.rotations, wedge, "cpu")
    vol = _Volume(volume, seeds_tpl.template.shape[0] // 2 + 4, "cpu")
    search = _Search(vol, vol.offsets(bank), bank, bank, seeds_tpl.symmetry, 50.0, 3, 3)
    with torch.no_grad():
        screened = screen_scores(search, origins, 2)
    assert screened.scores == pytest.approx(np.array(cells), abs=2e-4)
    # its voxel is the cell's arg-max, its first seed the exhaustive kernel's best rotation there
    _, index = match_template(volume, seeds_tpl, tilt_range_deg=(-60.0, 60.0), progress=False)
    for k, o in enumerate(origins[:2]):
        cell = exhaustive[o[0]:o[0] + 2, o[1]:o[1] + 2, o[2]:o[2] + 2]
        assert np.array_equal(screened.zyx[k], o + np.array(np.unravel_index(np.argmax(cell), cell.shape)))
        assert screened.seeds[k, 0] == index[tuple(screened.zyx[k])]


def test_screening_keeps_the_refinement_to_the_best_candidates_in_scan_order():
    poses, centres = [(40.0, 70.0, -100.0)], [(19, 23, 21)]
    template, volume = _scene(3, poses, centres)
    coarse, fine = _templates(template, 30.0, 12.0)
    settings = ScanSettings(bin=2, tilt_range_deg=(-60.0, 60.0))
    full = search_class(volume, coarse, fine, settings=settings, n_candidates=6, coarse_step_deg=30.0,
                        fine_step_deg=12.0)
    screened = search_class(volume, coarse, fine, settings=settings, n_candidates=6, coarse_step_deg=30.0,
                            fine_step_deg=12.0, refine_keep=1)
    assert len(full.scores) > 1 and len(screened.scores) == 1
    best = int(np.argmax(full.scores))
    assert np.array_equal(screened.zyx[int(np.argmax(screened.scores))], full.zyx[best])   # the particle survives
    assert max(screened.scores) == pytest.approx(max(full.scores), abs=1e-6)
    assert screened.refine_evaluations < full.refine_evaluations
    truth = euler_to_matrix(40.0, 70.0, -100.0)          # the pose, from the screen's seeds, within the final step
    assert so3.angular_distance_deg(screened.rotations[0], truth)[0, 0] <= 12.0
    assert np.array_equal(screened.zyx[0], np.array([19, 23, 21]))


def test_candidate_counts_with_and_without_screening():
    from baselines.template_matching.cli import TMParams, candidate_counts
    assert candidate_counts(TMParams(refine=True, candidates_factor=3.0, screen_factor=10.0), 27) == (270, 81)
    assert candidate_counts(TMParams(refine=True, candidates_factor=3.0, screen_factor=2.5), 27) == (81, None)
    assert candidate_counts(TMParams(refine=False, candidates_factor=3.0, screen_factor=10.0), 27) == (81, None)
    assert candidate_counts(TMParams(refine=True, candidates_factor=3.0, screen_factor=None), 10) == (30, None)
    assert candidate_counts(TMParams(refine=True, false_alarm=True, max_candidates=2000, screen_factor=10.0),
                            27) == (2000, None)
