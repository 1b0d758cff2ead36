"""``tomobench structures``: files written, library round trip, bad input exits 2."""

import numpy as np
import pandas as pd
from structures_toys import BIOMT_C2, toy_pdb

from generator.structures.library import load_library
from tomobench.cli import main


def test_cli_writes_a_library(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "dimer.pdb").write_text(toy_pdb(n_residues=10, chains="AB", remark350=BIOMT_C2))
    (src / "mono.pdb").write_text(toy_pdb(n_residues=8, chains="A", seed=2))
    out = tmp_path / "lib"
    assert main(["structures", "--source", str(src), "--voxel-size", "4", "--out", str(out)]) == 0
    for name in ("classes.csv", "dimer.mrc", "mono.mrc", "balls/dimer.csv", "balls/report.csv",
                 "balls/report.png", "library.png"):
        assert (out / name).is_file(), name
    lib = load_library(out)
    assert lib.voxel_size_a == 4.0
    assert lib.classes.names == ["mono", "dimer"]                 # labels by increasing mass
    assert lib.classes.row("dimer")["mass_kda"] > 2 * lib.classes.row("mono")["mass_kda"]
    assert np.asarray(lib.balls["dimer"]).shape[1] == 4
    report = pd.read_csv(out / "balls" / "report.csv")
    assert set(report["class_name"]) == {"mono", "dimer"}


def test_cli_bad_input_exits_2(tmp_path, capsys):
    assert main(["structures", "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["structures", "--source", "builtin", "--voxel-size", "0", "--out", str(tmp_path / "o")]) == 2
    assert "voxel_size_a" in capsys.readouterr().err
    (tmp_path / "p.yaml").write_text("structures:\n  assembly: '7'\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x.pdb").write_text(toy_pdb(remark350=BIOMT_C2))
    assert main(["structures", "--params", str(tmp_path / "p.yaml"), "--source", str(tmp_path / "src"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "assembly '7' does not exist" in capsys.readouterr().err
