"""A two-tomogram split scored from each submission format, every figure computed by hand.

CSV names the tomogram in its ``tomo`` column, STAR in ``rlnTomoName``, copick in ``run_name``;
a SHREC .txt file cannot name one, so against a split it is refused with a message that says
what to do (and it scores against one tomogram's folder).
"""

import json

import pytest

from scoring import score_file
from tomobench.cli import main
from tomobench.errors import InputError
from tomobench.particles import make_particles, write_particles
from tomobench.testing import write_sphere_truth

VOXEL_SIZE_A = 8.0     # not 10, so that a copick reader that ignored the voxel size would fail


@pytest.fixture
def split(tmp_path, class_table):
    root = tmp_path / "test"
    # t1: A (id 1) at (8, 8, 8), B (id 2) at (20, 8, 8); t2: A (id 1) at (8, 8, 8), D (id 2) at (20, 20, 20)
    write_sphere_truth(root / "t1", ["A", "B"], [(8, 8, 8), (20, 8, 8)], [2, 2], class_table=class_table,
                       voxel_size_a=VOXEL_SIZE_A)
    write_sphere_truth(root / "t2", ["A", "D"], [(8, 8, 8), (20, 20, 20)], [2, 2], class_table=class_table,
                       voxel_size_a=VOXEL_SIZE_A)
    (root / "t1" / "classes.csv").replace(root / "classes.csv")      # one class table for the split
    (root / "t2" / "classes.csv").unlink()
    return root


def picks():
    # t1: A found exactly, B called A at 1 voxel; t2: A found at 1 voxel (rounded: exact), one background pick.
    # The same positions in t1 and t2 would be confused if the tomogram were ignored.
    return make_particles(["A", "A", "A", "D"], [(8, 8, 8), (21, 8, 8), (8, 9, 8), (2, 2, 28)],
                          tomo=["t1", "t1", "t2", "t2"])


def check(report):
    # RR 4; TP: t1 ids 1, 2 and t2 id 1 = 3; FP: the background pick; FN: t2's D
    assert (report["RR"], report["TP"], report["FP"], report["FN"], report["MH"], report["RO"]) == (4, 3, 1, 1, 0, 0)
    assert report["AD"] == pytest.approx((0 + 1 + 1) / 3)
    assert report["precision"] == pytest.approx(3 / 4) and report["recall"] == pytest.approx(3 / 4)
    assert report["tomograms"] == ["t1", "t2"]
    # confusion: A row: both A particles predicted A; B row: predicted A; D row: background
    assert report["confusion"]["counts"] == [[2, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    a = report["per_class"]["A"]
    assert (a["tp"], a["fp"], a["fn"]) == (2, 1, 0)
    # F-beta (class radius 2 nm = 2.5 voxels at 8 Å; match within 1.25): A: picks (8,8,8)@t1 and (8,9,8)@t2 match,
    # (21,8,8)@t1 is 13 voxels from t1's A -> tp 2, fp 1, fn 0; B: tp 0, fn 1; D: its one pick is 20+ away -> fp 1, fn 1
    fb = report["fbeta"]["per_class"]
    assert (fb["A"]["tp"], fb["A"]["fp"], fb["A"]["fn"]) == (2, 1, 0)
    assert (fb["B"]["tp"], fb["B"]["fp"], fb["B"]["fn"]) == (0, 0, 1)
    assert (fb["D"]["tp"], fb["D"]["fp"], fb["D"]["fn"]) == (0, 1, 1)
    f_a = 17 * (2 / 3) / (16 * (2 / 3) + 1)
    assert report["fbeta"]["score"] == pytest.approx(f_a / 3)


@pytest.mark.parametrize("fmt, name", [("csv", "sub.csv"), ("star", "sub.star")])
def test_two_tomograms_in_each_format_that_names_them(split, tmp_path, class_table, fmt, name):
    path = write_particles(picks(), tmp_path / name, fmt,
                           class_to_label={n: class_table.label_of(n) for n in class_table.names})
    assert {"csv": "tomo", "star": "rlnTomoName"}[fmt] in path.read_text()
    check(score_file(path, split))


def test_two_tomograms_as_copick_picks_files(split, tmp_path):
    """One copick picks object per (run, class), locations in Å, written here by hand."""
    docs = []
    for (tomo, cls), group in picks().groupby(["tomo", "class"], sort=False):
        points = [{"location": {c: float(getattr(row, c)) * VOXEL_SIZE_A for c in "xyz"},
                   "transformation_": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], "instance_id": 0}
                  for row in group.itertuples()]
        docs.append({"pickable_object_name": cls, "user_id": "someone", "session_id": "1", "run_name": tomo,
                     "voxel_spacing": VOXEL_SIZE_A, "unit": "angstrom", "points": points})
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(docs), encoding="utf-8")
    check(score_file(path, split))             # the voxel size comes from the truth's MRC header (8 Å)


def test_shrec_text_against_a_split_is_refused_with_what_to_do(split, tmp_path, capsys):
    path = write_particles(picks(), tmp_path / "sub.txt", "shrec")
    with pytest.raises(InputError) as info:
        score_file(path, split)
    message = str(info.value)
    assert "A SHREC .txt file cannot name its tomogram" in message and "--truth" in message
    assert "'tomo' column" in message and "rlnTomoName" in message and "run_name" in message
    assert main(["score", str(path), "--truth", str(split)]) == 2
    assert "cannot name its tomogram" in capsys.readouterr().err


def test_shrec_text_per_tomogram_folder(split, tmp_path, capsys):
    # what the refusal suggests: one file per tomogram, each against its own folder
    both = picks()
    reports = []
    for tomo in ("t1", "t2"):
        one = both[both["tomo"] == tomo].assign(tomo="")
        path = write_particles(one, tmp_path / f"{tomo}.txt", "shrec")
        out = tmp_path / f"{tomo}.json"
        assert main(["score", str(path), "--truth", str(split / tomo), "--out", str(out), "--quiet"]) == 0
        reports.append(json.loads(out.read_text()))
    assert [(r["RR"], r["TP"], r["FP"], r["FN"]) for r in reports] == [(2, 2, 0, 0), (2, 1, 1, 1)]


def test_mixed_named_and_unnamed_picks_are_refused(split, tmp_path):
    sub = tmp_path / "sub.csv"
    sub.write_text("class,x,y,z,tomo\nA,8,8,8,t1\nA,8,8,8,\n")
    with pytest.raises(InputError, match="line 3: this pick names no tomogram"):
        score_file(sub, split)
    sub.write_text("class,x,y,z,tomo\nA,8,8,8,t1\nA,8,8,8,t9\n")
    with pytest.raises(InputError, match="line 3: unknown tomogram 't9'; the truth holds t1, t2"):
        score_file(sub, split)
