"""Submitting with the real scorer, refusals that change nothing, phases, import/export, rescore."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import scoring
from leaderboard import phases
from leaderboard.exchange import export, import_results, leaderboard_table
from leaderboard.store import Refused
from leaderboard.submit import Upload, rescore, sanitise_filename, submit
from tomobench.particles import read_particles, write_particles


def _snapshot(store):
    if not store.files_dir.exists():
        return store.counts(), []
    files = sorted(p.relative_to(store.files_dir) for p in store.files_dir.rglob("*"))
    return store.counts(), files


def test_valid_submission_is_scored_like_the_scorer_and_stored(params, store, picks_file, dataset, tmp_path):
    token = store.add_team("alpha")
    result = submit(store, params, Upload(token, "my method", "../../etc/passwd my picks.csv",
                                          picks_file.read_bytes(), url="https://example.org/paper"))
    assert result.filename == "passwd_my_picks.csv"
    truth = dataset / "private" / "test"
    expected = scoring.score_file(picks_file, truth)
    assert result.reports["final"]["f1"] == pytest.approx(expected["f1"])
    assert result.reports["final"]["TP"] == expected["TP"]
    # public phase: the first ceil(0.5 * 3) = 2 test tomograms, scored independently on a copy of them
    public = tmp_path / "public_truth"
    for name in ("tomo_000", "tomo_001"):
        shutil.copytree(truth / name, public / name)
    picks = read_particles(picks_file)
    write_particles(picks[picks["tomo"].isin(["tomo_000", "tomo_001"])], tmp_path / "pub.csv")
    expected_public = scoring.score_file(tmp_path / "pub.csv", public)
    assert result.reports["public"]["TP"] == expected_public["TP"]
    assert result.reports["public"]["RR"] == expected_public["RR"] < expected["RR"]
    table = leaderboard_table(store, "demo", "public")
    assert list(table["method"]) == ["my method"] and table.loc[0, "team"] == "alpha"
    sha = store.submissions().loc[0, "file_sha256"]
    assert store.file_path(sha).read_bytes() == picks_file.read_bytes()
    assert not any("passwd" in p.name for p in Path(params.data_dir).rglob("*"))


@pytest.mark.parametrize("case, message", [
    ("token", "invalid team token"),
    ("oversize", "the limit is 0.05 MB"),
    ("malformed", "line 3: x is 'abc', not a number"),
    ("unknown class", "unknown class 'ribosome'"),
    ("extension", "unsupported file type '.exe'"),
    ("empty method", "give your method a name"),
    ("bad url", "must start with http"),
])
def test_refusals_change_nothing(params, store, picks_file, case, message):
    token = store.add_team("alpha")
    data, name, method, url = picks_file.read_bytes(), "p.csv", "m", ""
    if case == "token":
        token = "tb_not-a-token"
    elif case == "oversize":
        data = b"class,x,y,z,tomo\n" + b"1s3x,1,2,3,tomo_000\n" * 4000
    elif case == "malformed":
        data = b"class,x,y,z,tomo\n1s3x,1,2,3,tomo_000\n1s3x,abc,2,3,tomo_000\n"
    elif case == "unknown class":
        data = b"class,x,y,z,tomo\nribosome,1,2,3,tomo_000\n"
    elif case == "extension":
        name = "p.exe"
    elif case == "empty method":
        method = "  "
    elif case == "bad url":
        url = "javascript:alert(1)"
    before = _snapshot(store)
    with pytest.raises(Refused, match=message) as info:
        submit(store, params, Upload(token, method, name, data, url=url))
    assert _snapshot(store) == before
    text = str(info.value)
    assert params.private_truth_dir not in text and str(Path(params.private_truth_dir).resolve()) not in text
    assert params.data_dir not in text and "/tmp" not in text


def test_daily_limit_refuses_the_extra_submission(params, store, picks_file):
    token = store.add_team("alpha")
    for _ in range(params.daily_limit):
        submit(store, params, Upload(token, "m", "p.csv", picks_file.read_bytes()))
    before = _snapshot(store)
    with pytest.raises(Refused, match="daily limit reached: 3 submissions"):
        submit(store, params, Upload(token, "m", "p.csv", picks_file.read_bytes()))
    assert _snapshot(store) == before
    other = store.add_team("beta")      # the limit is per team
    submit(store, params, Upload(other, "m", "p.csv", picks_file.read_bytes()))


@pytest.mark.parametrize("raw, safe", [
    ("picks.csv", "picks.csv"), ("../../x/y.star", "y.star"), ("C:\\Users\\me\\a b.txt", "a_b.txt"),
    ("ünïcødé.json", "ncd.json"), ("...", "submission"), ("/etc/", "submission"),
    ("a" * 300 + ".csv", "a" * 96 + ".csv"),
])
def test_sanitise_filename(raw, safe):
    assert sanitise_filename(raw) == safe


def test_phases_and_blind_visibility(params, store):
    assert phases.current_phase(store) == "public" and phases.visible_phases(store) == ["public"]
    phases.set_blind(store, True)
    assert phases.visible_phases(store) == []
    phases.set_blind(store, False)
    phases.set_phase(store, "final")
    assert phases.visible_phases(store) == ["final", "public"]
    assert phases.public_tomograms(params) == ["tomo_000", "tomo_001"]
    assert phases.public_tomograms(params.model_copy(update={"public_tomos": ["tomo_002"]})) == ["tomo_002"]


def test_import_pipeline_results_is_idempotent_and_exports(params, store, dataset, tmp_path):
    lines = import_results(store, params)
    assert len(lines) == 2
    import_results(store, params)                                  # again: replaced, not duplicated
    assert store.counts()["submissions"] == 2
    results = pd.read_parquet(dataset / "results.parquet")
    final = leaderboard_table(store, "demo", "final")
    expected = results.sort_values("f1", ascending=False)
    assert list(final["method"]) == list(expected["method"])
    assert final["f1"].tolist() == pytest.approx(expected["f1"].tolist())
    assert final["is_baseline"].all()
    assert len(leaderboard_table(store, "demo", "public")) == 2     # scored here from data/submissions/*.csv
    out = export(store, tmp_path / "lb.csv", "demo", ["public", "final"])
    back = pd.read_csv(out)
    assert len(back) == 4 and set(back["phase"]) == {"public", "final"}
    pq = pd.read_parquet(export(store, tmp_path / "lb.parquet", "demo", ["final"]))
    assert pq["f1"].tolist() == pytest.approx(final["f1"].tolist())


def test_rescore_follows_a_truth_change(params, store, picks_file, dataset, tmp_path):
    truth = tmp_path / "truth"
    shutil.copytree(dataset / "private" / "test", truth)
    params = params.model_copy(update={"private_truth_dir": str(truth), "public_fraction": 1.0})
    token = store.add_team("alpha")
    result = submit(store, params, Upload(token, "m", "p.csv", picks_file.read_bytes()))
    before = store.results("demo", "final").loc[0, "per_class_f1"]
    # the organizers fix the truth: one tomogram's particle list loses its classes (all become class 3qm1)
    locations = truth / "tomo_000" / "particle_locations.txt"
    lines = [" ".join(["3qm1"] + line.split()[1:]) for line in locations.read_text().splitlines()]
    locations.write_text("\n".join(lines) + "\n")
    assert rescore(store, params) == [(result.submission_id, "ok")]
    after = store.results("demo", "final").loc[0, "per_class_f1"]
    expected = {c: v["f1"] for c, v in scoring.score_file(picks_file, truth)["per_class"].items()}
    assert after == pytest.approx(expected)
    assert after != pytest.approx(before)
