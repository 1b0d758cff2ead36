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
