"""`tomobench score` on bad input: one clear line naming file and line, exit code 2, never a traceback."""

import json

import numpy as np
import pytest

from tomobench.cli import main
from tomobench.volumes import write_volume


def score(capsys, *argv):
    code = main(["score", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_valid_submission_prints_tables_and_writes_json(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\nB 20 8 8\n")
    code, out, err = score(capsys, sub, "--truth", truth_dir, "--out", tmp_path / "r.json")
    assert code == 0, err
    assert "Localization (SHREC 2020 Table 3)" in out and "Table 6" in out
    report = json.loads((tmp_path / "r.json").read_text())
    for key in "RR TP FP FN MH RO AD precision recall miss_rate f1 per_class size_groups confusion fbeta".split():
        assert key in report
    assert report["TP"] == 2 and report["per_class"]["B"]["tp"] == 1


@pytest.mark.parametrize("content, fragment", [
    ("A 8 8\n", "line 1"),                                   # missing column
    ("A 8 8 8\nA 8 x 8\n", "line 2"),                        # not a number
    ("A 8 8 8\nA nan 8 8\n", "finite"),                      # NaN
    ("A 8 8 8\n\nA 8 inf 8\n", "line 3"),                    # infinity, blank line counted
    ("A 8 8 8\nZ 1 1 1\n", "valid classes are: A, B, D, vesicle"),   # unknown class
    ("", "empty"),
    ("  \n\n", "empty"),
])
def test_malformed_shrec_text(tmp_path, truth_dir, capsys, content, fragment):
    sub = tmp_path / "sub.txt"
    sub.write_text(content)
    code, out, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2
    assert "Traceback" not in err and str(sub) in err and fragment in err


def test_csv_missing_column(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.csv"
    sub.write_text("class,x,y\nA,1,2\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2 and "lacks the column(s) ['z']" in err and "line 1" in err


def test_non_utf8_bytes(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_bytes(b"A 8 8 8\nA 8 8 8 \xff\xfe\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2 and "UTF-8" in err and "line 2" in err


def test_too_many_picks(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\n" * 11)
    code, _, err = score(capsys, sub, "--truth", truth_dir, "--max-picks", 10)
    assert code == 2 and "exceed the limit of 10" in err


def test_duplicates_and_outside_picks_are_scored_with_warnings(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\nA 8 8 8\nA 99 99 99\n")
    code, out, err = score(capsys, sub, "--truth", truth_dir, "--out", tmp_path / "r.json")
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["MH"], report["RO"]) == (1, 1)
    assert "duplicate" in out and "clamped" in out


def test_unknown_extension_is_sniffed_or_refused(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.dat"
    sub.write_text("class,x,y,z\nA,8,8,8\n")
    assert score(capsys, sub, "--truth", truth_dir)[0] == 0
    sub.write_text("A 8 8 8\n")
    assert score(capsys, sub, "--truth", truth_dir)[0] == 0
    sub.write_text("hello world\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2 and "--format" in err
    sub.write_text("A 8 8 8\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir, "--format", "csv")
    assert code == 2 and "header lacks" in err


def test_truth_without_mask(tmp_path, truth_dir, capsys):
    (truth_dir / "occupancy_mask.mrc").unlink()
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2 and "occupancy_mask.mrc is missing" in err


def test_truth_with_mismatched_mask(tmp_path, truth_dir, capsys):
    write_volume(truth_dir / "occupancy_mask.mrc", np.zeros((16, 16, 16), np.uint8), 10.0)
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2 and "do not match" in err


def test_truth_folder_that_is_not_one(tmp_path, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\n")
    (tmp_path / "empty").mkdir()
    code, _, err = score(capsys, sub, "--truth", tmp_path / "empty")
    assert code == 2 and "particle_locations.txt" in err


def test_split_needs_tomo_column(tmp_path, class_table, capsys):
    from tomobench.testing import write_sphere_truth
    write_sphere_truth(tmp_path / "s" / "t1", ["A"], [(8, 8, 8)], [2], class_table=class_table)
    write_sphere_truth(tmp_path / "s" / "t2", ["A"], [(8, 8, 8)], [2], class_table=class_table)
    sub = tmp_path / "sub.csv"
    sub.write_text("class,x,y,z\nA,8,8,8\n")
    code, _, err = score(capsys, sub, "--truth", tmp_path / "s")
    assert code == 2 and "'tomo' column" in err
    sub.write_text("class,x,y,z,tomo\nA,8,8,8,t1\nA,8,8,8,t3\n")
    code, _, err = score(capsys, sub, "--truth", tmp_path / "s")
    assert code == 2 and "unknown tomogram 't3'" in err and "line 3" in err


def test_a_coordinate_far_outside_any_tomogram_is_refused_with_its_line(tmp_path, truth_dir, capsys):
    # 1e308 would overflow the integer voxel look-up; 1e6 is the bound, inclusive
    sub = tmp_path / "far.csv"
    sub.write_text("class,x,y,z\nA,8,8,8\nB,20,1e308,8\n")
    code, _, err = score(capsys, sub, "--truth", truth_dir)
    assert code == 2 and "far outside any tomogram" in err and "line 3" in err and "Traceback" not in err
    edge = tmp_path / "edge.csv"
    edge.write_text("class,x,y,z\nA,8,8,8\nB,1000000,8,8\n")
    code, out, err = score(capsys, edge, "--truth", truth_dir)
    assert code == 0, err                       # at the bound: scored (clamped to the border, an RO pick)
