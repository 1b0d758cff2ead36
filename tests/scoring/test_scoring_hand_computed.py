"""Every figure of a small truth, computed by hand (see the comments)."""

import numpy as np
import pytest

from scoring import score_particles
from scoring.matching import match_picks
from tomobench.particles import make_particles


def picks_table():
    return make_particles(
        ["A", "B", "A", "A", "A", "B", "unknown"],
        [(8, 8, 8),      # p1: hits id 1 (A), correct class, distance 0
         (8, 9, 8),      # p2: hits id 1 again -> MH; the first hit stays p1
         (20, 8, 8),     # p3: hits id 2 (B), predicted A, distance 0
         (0, 0, 0),      # p4: background -> FP
         (40, 8, 8),     # p5: outside, clamped to (31, 8, 8): background -> FP and RO
         (24, 24, 24),   # p6: on the vesicle (not scored) -> vanishes, stays in RR
         (9, 20, 20)])   # p7: hits id 3 (A) as 'unknown', distance 1


def test_localization_counts(truth_dir):
    r = score_particles(picks_table(), truth_dir)
    assert (r["RR"], r["TP"], r["FP"], r["FN"], r["MH"], r["RO"]) == (7, 3, 2, 1, 1, 1)
    assert r["ignored_picks"] == 1
    assert r["AD"] == pytest.approx(1 / 3)
    assert r["precision"] == pytest.approx(3 / 7)
    assert r["recall"] == pytest.approx(3 / 4)
    assert r["miss_rate"] == pytest.approx(1 / 4)
    assert r["f1"] == pytest.approx(18 / 33)


def test_confusion_matrix_one_row_per_particle(truth_dir):
    r = score_particles(picks_table(), truth_dir)
    c = r["confusion"]
    assert c["rows"] == ["A", "B", "D"]
    assert c["columns"] == ["A", "B", "D", "unknown", "background"]
    assert c["counts"] == [[1, 0, 0, 1, 0],   # id 1 -> A, id 3 -> unknown
                           [1, 0, 0, 0, 0],   # id 2 -> A
                           [0, 0, 0, 0, 1]]   # id 5 missed


def test_per_class_and_size_groups(truth_dir):
    r = score_particles(picks_table(), truth_dir)
    a = r["per_class"]["A"]
    assert (a["tp"], a["fp"], a["fn"]) == (1, 1, 1)
    assert a["f1"] == pytest.approx(0.5)
    assert r["per_class"]["B"]["f1"] == 0 and r["per_class"]["D"]["f1"] == 0
    assert r["size_groups"] == {"small": pytest.approx(0.5), "medium": 0.0, "large": 0.0}
    cumulative = [(e["class"], e["cumulative"]) for e in r["cumulative_f1"]]
    assert cumulative == [("A", 0.5), ("B", 0.5), ("D", 0.5)]


def test_size_group_is_mean_of_its_classes(tmp_path, class_table):
    from tomobench.classes import ClassTable
    from tomobench.testing import write_sphere_truth
    table = ClassTable.from_records([
        {"class_name": "s1", "label": 1, "mass_kda": 50}, {"class_name": "s2", "label": 2, "mass_kda": 150}])
    truth = write_sphere_truth(tmp_path / "t", ["s1", "s2", "s2"], [(5, 5, 5), (15, 5, 5), (25, 5, 5)],
                               [2, 2, 2], class_table=table)
    picks = make_particles(["s1", "s2", "s1"], [(5, 5, 5), (15, 5, 5), (25, 5, 5)])
    r = score_particles(picks, truth)
    # s1: tp 1, fp 1 (the s2 particle called s1), fn 0 -> F1 2/3; s2: tp 1, fn 1 -> F1 2/3
    assert r["per_class"]["s1"]["f1"] == pytest.approx(2 / 3)
    assert r["per_class"]["s2"]["f1"] == pytest.approx(2 / 3)
    assert r["size_groups"]["small"] == pytest.approx(2 / 3)
    assert any("medium" in w for w in r["warnings"])


def test_dilation_higher_id_wins_shared_border():
    occupancy = np.zeros((5, 5, 12), dtype=np.uint16)
    occupancy[2, 2, 5] = 1          # particle 1 at x = 5
    occupancy[2, 2, 6] = 2          # particle 2 touching it at x = 6
    xyz = [(4, 2, 2), (5, 2, 2), (6, 2, 2), (7, 2, 2), (8, 2, 2), (5, 3, 2)]
    hits = match_picks(np.array(xyz, float), occupancy).hit_id
    # x=4 borders 1 only; x=5 is 1 but borders 2 -> 2; x=6, 7 -> 2; x=8 -> 0; (5,3) borders 1 only -> 1
    assert hits.tolist() == [1, 2, 2, 2, 0, 1]
    assert match_picks(np.array(xyz, float), occupancy, dilate=False).hit_id.tolist() == [0, 1, 2, 0, 0, 0]


def test_dilation_equals_scipy_grey_dilation(rng):
    from scipy import ndimage
    occupancy = rng.integers(0, 4, size=(9, 10, 11)) * (rng.random((9, 10, 11)) < 0.2)
    dilated = ndimage.grey_dilation(occupancy, footprint=ndimage.generate_binary_structure(3, 1))
    xyz = rng.uniform(-3, 13, size=(500, 3))
    hits = match_picks(xyz, occupancy).hit_id
    clamped = np.clip(np.rint(xyz).astype(int), 0, np.array(occupancy.shape[::-1]) - 1)
    np.testing.assert_array_equal(hits, dilated[clamped[:, 2], clamped[:, 1], clamped[:, 0]])


def test_rounding_and_clamping():
    occupancy = np.zeros((4, 4, 4), dtype=np.uint8)
    occupancy[0, 0, 3] = 1
    m = match_picks(np.array([[2.5, 0, 0], [3.4, 0.2, -0.4], [9.0, -5.0, 0.0]]), occupancy, dilate=False)
    # 2.5 rounds half to even -> 2 (miss); 3.4 -> 3 (hit); (9, -5) clamps to (3, 0): hit and RO
    assert m.hit_id.tolist() == [0, 1, 1]
    assert m.outside.tolist() == [False, False, True]


def test_fbeta_with_duplicates(tmp_path):
    from tomobench.classes import ClassTable
    from tomobench.testing import write_sphere_truth
    table = ClassTable.from_records([{"class_name": "A", "label": 1, "mass_kda": 100, "radius_nm": 4.0}])
    truth = write_sphere_truth(tmp_path / "t", ["A", "A"], [(8, 8, 8), (20, 20, 20)], [3, 3], class_table=table)
    # radius 4 nm = 4 voxels at 10 Å; multiplier 0.5 -> match within 2 voxels
    picks = make_particles(["A", "A", "A"], [(8, 8, 9), (9, 8, 8), (8, 8, 20)])
    r = score_particles(picks, truth)
    fb = r["fbeta"]["per_class"]["A"]
    assert (fb["tp"], fb["fp"], fb["fn"]) == (1, 2, 1)
    # P = 1/3, R = 1/2, beta = 4: 17 * (1/6) / (16/3 + 1/2) = 17/35
    assert fb["fbeta"] == pytest.approx(17 / 35)
    assert r["fbeta"]["score"] == pytest.approx(17 / 35)


def test_no_hit_answers_zeros_with_a_warning(truth_dir):
    r = score_particles(make_particles(["A"], [(0, 0, 0)]), truth_dir)
    assert (r["TP"], r["f1"], r["AD"], r["precision"]) == (0, 0.0, 0.0, 0.0)
    assert any("no pick hit" in w for w in r["warnings"])


def test_split_counts_are_summed_before_ratios(tmp_path, class_table):
    from tomobench.testing import write_sphere_truth
    split = tmp_path / "test"
    write_sphere_truth(split / "t1", ["A", "B"], [(8, 8, 8), (20, 8, 8)], [2, 2], class_table=class_table)
    write_sphere_truth(split / "t2", ["A"], [(8, 8, 8)], [2], class_table=class_table)
    picks = make_particles(["A", "A", "A", "B"], [(8, 8, 8), (0, 0, 0), (8, 8, 8), (30, 30, 30)],
                           tomo=["t1", "t1", "t2", "t2"])
    r = score_particles(picks, split)
    assert (r["RR"], r["TP"], r["FP"], r["FN"]) == (4, 2, 2, 1)
    assert r["precision"] == pytest.approx(2 / 4) and r["recall"] == pytest.approx(2 / 3)
    assert r["tomograms"] == ["t1", "t2"]
