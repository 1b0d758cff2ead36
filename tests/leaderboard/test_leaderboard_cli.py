"""``tomobench leaderboard``: team add (token once, stored hashed), import, phase, blind, export, rescore."""

from __future__ import annotations

import hashlib

import pandas as pd

from leaderboard.phases import current_phase, is_blind
from leaderboard.store import Store
from tomobench.cli import main


def test_organizer_commands(params, params_file, picks_file, tmp_path, capsys):
    p = ["--params", str(params_file)]
    assert main(["leaderboard", "team", "add", "Team A", *p]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("tb_") and "shown only now" in err
    store = Store(params.data_dir)
    assert store.team_for_token(token).name == "Team A"
    assert store.read("SELECT token_hash FROM teams")[0][0] == hashlib.sha256(token.encode()).hexdigest()
    assert main(["leaderboard", "team", "add", "Team A", *p]) == 2          # exists: a clear error, no traceback
    assert "exists already" in capsys.readouterr().err
    assert main(["leaderboard", "team", "list", *p]) == 0
    out = capsys.readouterr().out
    assert "Team A" in out and token not in out

    assert main(["leaderboard", "import", *p]) == 0
    assert "dog" in capsys.readouterr().out
    assert main(["leaderboard", "phase", "reveal", *p]) == 0 and current_phase(store) == "final"
    assert main(["leaderboard", "blind", "on", *p]) == 0 and is_blind(store)
    out_csv = tmp_path / "board.csv"
    assert main(["leaderboard", "export", str(out_csv), "--phase", "final", *p]) == 0
    board = pd.read_csv(out_csv)
    assert sorted(board["method"]) == ["dog", "tm"] and list(board["rank"]) == [1, 2]
    assert main(["leaderboard", "rescore", *p]) == 0
    assert capsys.readouterr().out.count(": ok") == 2
    assert main(["leaderboard", "export", str(tmp_path / "board.xlsx"), *p]) == 2


def test_import_without_results_is_a_clear_error(params_file, capsys):
    assert main(["leaderboard", "import", "--params", str(params_file), "--results", "/nonexistent.parquet"]) == 2
    assert "run the DVC pipeline first" in capsys.readouterr().err


def test_organizer_token_revoke_and_a_read_only_store(params, params_file, tmp_path, capsys, monkeypatch):
    p = ["--params", str(params_file)]
    assert main(["leaderboard", "organizer", "token", *p]) == 0
    organizer = capsys.readouterr().out.strip()
    store = Store(params.data_dir)
    assert organizer.startswith("tbo_") and store.is_organizer(organizer) and not store.is_organizer("tbo_x")
    assert main(["leaderboard", "team", "add", "Team B", *p]) == 0
    token = capsys.readouterr().out.strip()
    assert main(["leaderboard", "team", "revoke", "Team B", *p]) == 0
    assert store.team_for_token(token) is None
    assert list(store.audit_log()["action"])[::-1] == ["organizer token", "team add", "team revoke"]
    # a store that cannot be written: one sentence and exit code 2, not a traceback
    from leaderboard import store as store_module

    monkeypatch.setattr(store_module.Store, "_probe_disk", lambda self: (_ for _ in ()).throw(OSError(28, "full")))
    assert main(["leaderboard", "blind", "on", *p]) == 2
    err = capsys.readouterr().err
    assert "read-only mode (the disk is full)" in err and "Traceback" not in err
