"""The store: hashed tokens, content-addressed files, WAL mode, atomic daily limit, 50 parallel processes."""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from leaderboard.store import Refused, Store, Submission
from tomobench.errors import InputError

REPORT = {"f1": 0.5, "per_class": {"a": {"tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5}}}
FLAT = {"RR": 2, "TP": 1, "f1": 0.5}


def test_tokens_are_stored_hashed_and_checked(store):
    token = store.add_team("alpha")
    assert token.startswith("tb_") and len(token) > 30
    raw = Path(store.db_path).read_bytes() + b"".join(p.read_bytes() for p in Path(store.data_dir).glob("*-wal"))
    assert token.encode() not in raw
    rows = store.read("SELECT token_hash FROM teams")
    assert rows[0][0] == hashlib.sha256(token.encode()).hexdigest()
    assert store.team_for_token(token).name == "alpha"
    assert store.team_for_token(token + "x") is None
    assert store.team_for_token("") is None and store.team_for_token(None) is None
    new = store.replace_token("alpha")
    assert store.team_for_token(token) is None and store.team_for_token(new).name == "alpha"


def test_team_names_are_checked(store):
    store.add_team("beta team-1")
    with pytest.raises(InputError, match="exists already"):
        store.add_team("beta team-1")
    for bad in ("", "../x", "a" * 65, "<script>"):
        with pytest.raises(InputError, match="not allowed"):
            store.add_team(bad)


def test_wal_mode_and_content_addressed_files(store):
    con = store.connect()
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()
    data = b"class,x,y,z\na,1,2,3\n"
    sha = store.put_file(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.file_path(sha).read_bytes() == data
    assert store.put_file(data) == sha                      # idempotent
    assert len(list(store.files_dir.rglob("*"))) == 2       # one folder, one file
    with pytest.raises(ValueError):
        store.file_path("../../etc/passwd")


def test_daily_limit_is_per_team_and_utc_day(store):
    team = store.team_for_token(store.add_team("gamma"))
    day1 = datetime(2026, 1, 1, 23, 0, tzinfo=timezone.utc)
    for _ in range(2):
        store.add_submission(Submission("m", "demo", team_id=team.id), {"final": (REPORT, FLAT)}, daily_limit=2,
                             now=day1)
    with pytest.raises(Refused, match="daily limit"):
        store.add_submission(Submission("m", "demo", team_id=team.id), {}, daily_limit=2, now=day1)
    assert store.counts()["submissions"] == 2 and store.counts()["reports"] == 2
    store.add_submission(Submission("m", "demo", team_id=team.id), {}, daily_limit=2, now=day1 + timedelta(hours=2))
    assert store.count_today(team.id, day1 + timedelta(hours=2)) == 1


def test_results_rows_carry_flat_columns_and_per_class_f1(store):
    sub_id = store.add_submission(Submission("m", "demo", is_baseline=True, source="pipeline"),
                                  {"final": (REPORT, FLAT)})
    df = store.results("demo", "final")
    assert list(df["id"]) == [sub_id] and df.loc[0, "TP"] == 1 and df.loc[0, "per_class_f1"] == {"a": 0.5}
    assert df.loc[0, "team"] == "baseline" and bool(df.loc[0, "is_baseline"])
    assert store.results("demo", "public").empty and store.results("other", "final").empty
    assert store.report(sub_id, "final") == REPORT


def _submit_many(args):
    """Worker: submit through the real scorer; return ('ok', id) or ('refused', message) per attempt."""
    params_json, token, path, n = args
    from leaderboard.config import LeaderboardParams
    from leaderboard.store import Refused
    from leaderboard.submit import Upload, submit

    params = LeaderboardParams.model_validate_json(params_json)
    store = Store(params.data_dir)
    out = []
    for i in range(n):
        try:
            result = submit(store, params, Upload(token, f"method {i}", Path(path).name, Path(path).read_bytes()))
            out.append(("ok", result.submission_id))
        except Refused as exc:
            out.append(("refused", str(exc)))
    return out


def test_fifty_parallel_submissions_nothing_lost_or_duplicated(params, store, picks_file):
    """10 teams x 6 attempts from 10 processes, daily limit 5: exactly 50 stored, 5 per team."""
    params = params.model_copy(update={"daily_limit": 5, "max_file_mb": 5.0})
    tokens = {f"team{i}": store.add_team(f"team{i}") for i in range(10)}
    jobs = [(params.model_dump_json(), tok, str(picks_file), 6) for tok in tokens.values()]
    with ProcessPoolExecutor(max_workers=10) as pool:
        outcomes = [o for batch in pool.map(_submit_many, jobs) for o in batch]
    ok = [v for kind, v in outcomes if kind == "ok"]
    refused = [v for kind, v in outcomes if kind == "refused"]
    assert len(ok) == 50 and len(set(ok)) == 50
    assert len(refused) == 10 and all("daily limit" in m for m in refused)
    subs = store.submissions()
    assert sorted(subs["id"]) == sorted(ok)
    assert subs.groupby("team").size().to_dict() == {name: 5 for name in tokens}
    assert store.counts()["reports"] == 100                     # both phases of each
    assert store.counts()["files"] == 1                         # the same bytes, stored once
    con = sqlite3.connect(store.db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
