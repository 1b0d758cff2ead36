"""One options object from params.yaml (CLI flags override), and the typed report with its committed schema."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from scoring import ScoreReport, ScoringOptions, load_options, score_particles
from scoring.report_model import report_schema_json
from tomobench.cli import main
from tomobench.errors import InputError
from tomobench.particles import make_particles

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "score_report.schema.json"


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main(["score", *map(str, argv)])
    return code, capsys.readouterr().err


def params_file(tmp_path, **scoring) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"dataset": {"name": "x"}, "scoring": scoring}), encoding="utf-8")
    return path


def test_load_options_defaults_then_file_then_overrides(tmp_path):
    assert load_options() == ScoringOptions()
    path = params_file(tmp_path, radius_multiplier=1.0, class_weights={"A": 2}, dilate=False, max_picks=10)
    opts = load_options(path)
    assert (opts.radius_multiplier, opts.class_weights, opts.dilate, opts.max_picks, opts.fbeta_beta) == \
        (1.0, {"A": 2.0}, False, 10, 4.0)
    assert load_options(path, {"radius_multiplier": 0.5}).radius_multiplier == 0.5
    with pytest.raises(InputError, match=r"scoring\.radius_multiplier"):
        load_options(params_file(tmp_path, radius_multiplier=-1))
    with pytest.raises(InputError, match=r"scoring\.class_weights\.A"):
        load_options(params_file(tmp_path, class_weights={"A": -2}))
    with pytest.raises(InputError, match=r"scoring\.bogus"):
        load_options(params_file(tmp_path, bogus=1))


def test_params_options_change_the_figures_through_the_cli(tmp_path, truth_dir, capsys):
    # truth_dir (conftest): A at (8, 8, 8) r 2 and (8, 20, 20) r 3, B at (20, 8, 8), D at (20, 20, 8);
    # every class radius 2 nm = 2 voxels. Picks 1.5 voxels off: outside 0.5 x 2 = 1 voxel, inside 1.0 x 2.
    sub = tmp_path / "sub.csv"
    sub.write_text("class,x,y,z\nA,9.5,8,8\nB,20,9.5,8\nD,20,20,9.5\n")
    out = tmp_path / "r.json"

    def fbeta(*extra):
        code, err = run_cli(capsys, sub, "--truth", truth_dir, "--out", out, "--quiet", *extra)
        assert code == 0, err
        return json.loads(out.read_text())["fbeta"]

    default = params_file(tmp_path, radius_multiplier=0.5)
    assert fbeta("--params", default)["score"] == 0.0
    wide = params_file(tmp_path, radius_multiplier=1.0, class_weights={"A": 2, "B": 1, "D": 1})
    fb = fbeta("--params", wide)
    # A: 1 of 2 found, 1 pick -> P 1, R 1/2, F4 = 17/33; B and D perfect: (2 * 17/33 + 1 + 1) / 4
    assert fb["per_class"]["A"]["fbeta"] == pytest.approx(17 / 33)
    assert fb["score"] == pytest.approx((2 * 17 / 33 + 2) / 4)
    assert fbeta("--params", wide, "--radius-multiplier", "0.5")["score"] == 0.0     # the flag overrides
    # max_picks of the params file refuses the file; the flag lifts it
    code, err = run_cli(capsys, sub, "--truth", truth_dir, "--params", params_file(tmp_path, max_picks=2))
    assert code == 2 and "exceed the limit of 2" in err
    assert fbeta("--params", tmp_path / "params.yaml", "--max-picks", "3")["score"] == 0.0


def test_dilate_from_params(tmp_path, truth_dir, capsys):
    # (11, 8, 8) is 3 voxels from A (8, 8, 8) of radius 2: the sphere reaches x = 10, its dilation
    # x = 11, so the pick hits only with dilation
    sub = tmp_path / "sub.txt"
    sub.write_text("A 11 8 8\n")
    out = tmp_path / "r.json"
    for dilate, tp in ((True, 1), (False, 0)):
        code, err = run_cli(capsys, sub, "--truth", truth_dir, "--out", out, "--quiet",
                            "--params", params_file(tmp_path, dilate=dilate))
        assert code == 0, err
        assert json.loads(out.read_text())["TP"] == tp
    code, err = run_cli(capsys, sub, "--truth", truth_dir, "--out", out, "--quiet",
                        "--params", params_file(tmp_path, dilate=False), "--dilate")
    assert code == 0, err
    assert json.loads(out.read_text())["TP"] == 1


def test_bad_params_stop_with_the_key(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\n")
    code, err = run_cli(capsys, sub, "--truth", truth_dir, "--params", params_file(tmp_path, fbeta_beta=0))
    assert code == 2 and "scoring.fbeta_beta" in err and "params.yaml" in err
    code, err = run_cli(capsys, sub, "--truth", truth_dir, "--params", params_file(tmp_path, class_weights={"Q": 1}))
    assert code == 2 and "class_weights names 'Q'" in err


def test_committed_schema_equals_the_generated_one(capsys):
    assert SCHEMA.read_text(encoding="utf-8") == report_schema_json(), \
        "regenerate it: tomobench score --schema > docs/score_report.schema.json"
    assert main(["score", "--schema"]) == 0
    assert capsys.readouterr().out == report_schema_json()


def test_written_report_follows_the_schema_and_round_trips(tmp_path, truth_dir, capsys):
    sub = tmp_path / "sub.txt"
    sub.write_text("A 8 8 8\nB 20 8 8\nunknown 0 0 0\nA 40 8 8\n")
    out = tmp_path / "r.json"
    code, err = run_cli(capsys, sub, "--truth", truth_dir, "--out", out, "--quiet")
    assert code == 0, err
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads(SCHEMA.read_text()))           # the independent validator
    assert ScoreReport.model_validate(doc).model_dump(by_alias=True) == doc
    assert doc["cumulative_f1"][0]["class"] == "A"
    broken = dict(doc, TP="many")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json.loads(SCHEMA.read_text()))


def test_report_model_refuses_unknown_keys(truth_dir):
    report = score_particles(make_particles(["A"], [(8, 8, 8)]), truth_dir)
    with pytest.raises(ValueError):
        ScoreReport.model_validate({**report, "surprise": 1})
