"""End to end on a tiny public dataset built in code: tomobench baseline dog / tm."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from classical_synth import make_public  # noqa: E402

from tomobench.cli import main  # noqa: E402
from tomobench.particles import read_particles  # noqa: E402

scoring = pytest.importorskip("scoring")


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """--threads sets torch's thread count for the process; put it back after each test."""
    import torch
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    root = tmp_path_factory.mktemp("classical") / "public"
    return make_public(root, np.random.default_rng(0))


def test_tm_writes_both_rules_and_timing(public, tmp_path):
    out, other = tmp_path / "tm_f.csv", tmp_path / "tm_t.csv"
    rc = main(["baseline", "tm", "--data", str(public), "--out", str(out), "--other-out", str(other),
               "--angular-step", "30", "--bin", "1", "--threads", "1", "--shrec",
               "--score-maps", str(tmp_path / "maps")])
    assert rc == 0
    picks = read_particles(out)
    assert set(picks["class"]) <= {"big", "small"} and set(picks["tomo"]) == {"tomo_001"}
    assert picks[["phi", "theta", "psi", "score"]].notna().all(axis=None)
    timing = json.loads((tmp_path / "tm_f.timing.json").read_text())
    assert {"method", "wall_s", "train_s", "infer_s", "device", "n_rotations", "voxels"} <= set(timing)
    assert timing["method"] == "tm-f" and timing["n_rotations"] > 0 and timing["voxels"] == 40 * 64 * 64
    assert (tmp_path / "tm_t.timing.json").is_file() and (tmp_path / "tm_f.tomo_001.txt").is_file()
    assert (tmp_path / "maps" / "tomo_001_big_scores.mrc").is_file()
    truth = public.parent / "private"
    for path in (out, other):
        report = scoring.score_file(path, truth)
        assert report["f1"] >= 0.8                         # clean synthetic data: nearly all found
        assert report["per_class"]["big"]["f1"] >= 0.8     # and the large class classified


def test_tm_coarse_to_fine_with_the_false_alarm_rule(public, tmp_path):
    out = tmp_path / "tm_c2f.csv"
    rc = main(["baseline", "tm", "--data", str(public), "--out", str(out), "--angular-step", "40", "--bin", "2",
               "--refine", "--fine-step", "20", "--false-alarm", "--threads", "1"])
    assert rc == 0
    timing = json.loads((tmp_path / "tm_c2f.timing.json").read_text())
    assert timing["fine_step_deg"] == 20 and timing["voxels"] == 20 * 32 * 32
    assert all(v > 0 for v in timing["refine_evaluations_per_class"].values())
    picks = read_particles(out)
    # refined picks sit on full-resolution voxels (not the binned grid's 2 i + 0.5)
    assert np.allclose(picks[["x", "y", "z"]].to_numpy() % 1.0, 0.0)
    report = scoring.score_file(out, public.parent / "private")
    # N per class came from the cut-off, not the training density: every particle is found and few noise
    # peaks pass (the big template also fires on small particles; TM-F then gives them to the big class)
    assert report["f1"] >= 0.8 and report["per_class"]["big"]["recall"] == 1.0


def test_dog_grid_search_through_the_scorer(public, tmp_path):
    out = tmp_path / "dog.csv"
    assert main(["baseline", "dog", "--data", str(public), "--out", str(out)]) == 0
    timing = json.loads((tmp_path / "dog.timing.json").read_text())
    assert timing["method"] == "dog" and len(timing["grid"]) == 5 * 7
    assert set(read_particles(out)["class"]) == {"unknown"}
    assert scoring.score_file(out, public.parent / "private")["f1"] >= 0.8


def test_missing_acquisition_is_an_input_error(public, tmp_path, capsys):
    broken = tmp_path / "public"
    import shutil
    shutil.copytree(public, broken)
    (broken / "test" / "tomo_001" / "acquisition.json").unlink()
    rc = main(["baseline", "tm", "--data", str(broken), "--out", str(tmp_path / "x.csv"), "--angular-step", "60"])
    assert rc == 2
    assert "acquisition.json" in capsys.readouterr().err


def test_tm_erases_beads_with_a_threshold_from_the_training_split(tmp_path):
    public = make_public(tmp_path / "public", np.random.default_rng(4), beads=3)
    outs = []
    for k in range(2):
        out = tmp_path / f"tm_{k}.csv"
        assert main(["baseline", "tm", "--data", str(public), "--out", str(out), "--angular-step", "40",
                     "--bin", "2", "--threads", "1"]) == 0
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()          # seeded noise fill: same params, same bytes
    timing = json.loads((tmp_path / "tm_0.timing.json").read_text())
    assert timing["fiducials_erased"] == {"tomo_001": 3}
    # the threshold lies between the training split's densest particle and its faintest bead
    from baselines.public_data import split_tomograms
    from baselines.template_matching.fiducials import contrast_at
    train = split_tomograms(public, "train")[0]
    truth, (volume, _) = train.truth(), train.reconstruction()
    values = contrast_at(volume, -1.0, truth[["z", "y", "x"]].to_numpy(float))
    is_bead = (truth["class"] == "fiducial").to_numpy()
    assert values[~is_bead].max() < timing["fiducial_z"] < values[is_bead].min()
    picks = read_particles(outs[0])
    test_truth = read_particles(public.parent / "private" / "tomo_001" / "particle_locations.txt")
    beads = test_truth[test_truth["class"] == "fiducial"][["x", "y", "z"]].to_numpy(float)
    assert len(beads) == 3
    d = np.linalg.norm(picks[["x", "y", "z"]].to_numpy(float)[:, None] - beads[None], axis=2)
    assert d.min() > 2.0                                            # no pick on a bead
