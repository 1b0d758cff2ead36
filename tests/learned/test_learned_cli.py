"""End to end: `tomobench baseline unet|cnn` on a tiny fake public folder (contract layout)."""

import json

import numpy as np
import pytest
import yaml

from baselines.synthetic import write_fake_public
from tomobench.cli import main
from tomobench.particles import read_particles

TIMING_KEYS = {"method", "wall_s", "train_s", "infer_s", "device", "n_rotations", "voxels"}


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    return write_fake_public(root / "public", np.random.default_rng(0), n_train=2, n_test=1,
                             shape_zyx=(16, 32, 32), n_per_class=4, box=12)


def test_fake_public_folder_has_the_contract_layout(public):
    assert (public / "classes.csv").is_file() and (public / "structures" / "ball.mrc").is_file()
    for name in ("reconstruction.mrc", "class_mask.mrc", "occupancy_mask.mrc", "particle_locations.txt"):
        assert (public / "train" / "tomo_train_00" / name).is_file()
    assert [p.name for p in (public / "test" / "tomo_test_00").iterdir()] == ["reconstruction.mrc"]


def test_unet_cli_writes_submission_timing_and_resumes(public, tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"unet": {
        "widths": [4, 8], "patch_vox": 16, "batch_size": 2, "steps": 4, "val_every": 2, "val_patches": 2,
        "infer_patch_vox": 16, "infer_overlap_vox": 4, "final_fit_steps": 2, "warmup_steps": 1,
        "peak_min_prob": 0.0}}}))
    out = tmp_path / "sub" / "unet.csv"
    args = ["baseline", "unet", "--data", str(public), "--out", str(out), "--params", str(params),
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet"]
    assert main(args) == 0
    timing = json.loads((tmp_path / "sub" / "unet.timing.json").read_text())
    assert TIMING_KEYS <= set(timing) and timing["method"] == "unet" and timing["voxels"] == 16 * 32 * 32
    # the fit with validation and the final fit on all train tomograms
    assert len(list((tmp_path / "ckpt").glob("unet_*.pt"))) == 2
    assert [s for s, _ in timing["val_curve"]] == [2, 4] and set(timing["thresholds"]) == {"ball", "rod"}
    assert 0 <= timing["val_localization_f1"] <= 1
    # the convergence curve: both F1s per validation; the selection score is their mean
    # (threshold_metric both by default)
    assert [s for s, _, _ in timing["val_f1_curve"]] == [2, 4]
    assert [(loc + cls) / 2 for _, loc, cls in timing["val_f1_curve"]] == pytest.approx(
        [v for _, v in timing["val_curve"]])
    assert all(0 <= cls <= 1 for _, _, cls in timing["val_f1_curve"])
    first = out.read_text()
    if first.strip() != "class,x,y,z":
        df = read_particles(out)
        assert set(df["class"]) <= {"ball", "rod"} and set(df["tomo"]) == {"tomo_test_00"}
    # a second run reuses the finished checkpoint: same submission, (almost) no training time
    assert main(args) == 0
    assert out.read_text() == first
    again = json.loads((tmp_path / "sub" / "unet.timing.json").read_text())
    assert again["train_s_resumed"] > 0 and again["train_s"] >= again["train_s_resumed"]
    # other baselines code: the finished checkpoint is not taken for this code's; training starts afresh
    import baselines.unet.cli as unet_cli
    monkeypatch.setattr(unet_cli, "source_digest", lambda: "other-code")
    assert main(args) == 0
    assert len(list((tmp_path / "ckpt").glob("unet_*.pt"))) == 4


def test_source_digest_follows_the_code(tmp_path):
    from baselines.torch_common import source_digest

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    first = source_digest(tmp_path / "pkg")
    assert source_digest(tmp_path / "pkg") == first
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert source_digest(tmp_path / "pkg") != first
    assert len(source_digest()) == 12  # the installed baselines package


def test_cnn_cli_pick_and_candidates_file(public, tmp_path):
    out = tmp_path / "cnn.csv"
    base = ["baseline", "cnn", "--data", str(public), "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet"]
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"cnn": {"box_vox": 12, "width": 4, "hidden": 8, "epochs": 1,
                                                            "min_probability": 0.0}}}))
    assert main(base + ["--out", str(out), "--params", str(params)]) == 0
    timing = json.loads((tmp_path / "cnn.timing.json").read_text())
    assert TIMING_KEYS <= set(timing) and timing["method"] == "cnn"
    cands = tmp_path / "cands.csv"
    cands.write_text("class,x,y,z,tomo\nunknown,5,5,5,tomo_test_00\nunknown,20,20,8,tomo_test_00\n")
    out2 = tmp_path / "cnn2.csv"
    assert main(base + ["--out", str(out2), "--params", str(params), "--candidates", str(cands)]) == 0
    text = out2.read_text().splitlines()
    assert len(text) <= 3  # at most the two candidates (background ones are dropped)
    bad = tmp_path / "bad.csv"
    bad.write_text("class,x,y,z,tomo\nunknown,5,5,5,nope\n")
    assert main(base + ["--out", str(out2), "--params", str(params), "--candidates", str(bad)]) == 2


def test_subtomo_task_cli_prints_table2(public, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {
        "cnn": {"width": 4, "hidden": 8, "epochs": 1},
        "cnn_subtomo": {"box_vox": 12, "snrs": [1000, 0.1], "tilt_max_deg": [60], "n_per_class": 4}}}))
    out = tmp_path / "task.json"
    assert main(["baseline", "cnn", "--task", "subtomo", "--data", str(public), "--out", str(out),
                 "--params", str(params), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "SNR / Tilt angle range" in printed and "±60°" in printed
    result = json.loads(out.read_text())
    assert [c["snr"] for c in result["cells"]] == [1000, 0.1]
    assert result["classes"] == ["ball", "rod", "empty"]
    cell = result["cells"][0]
    assert np.sum(cell["confusion"]["counts"]) == cell["n_test"] == 6


def test_bad_inputs_exit_2(tmp_path, public):
    ck = ["--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet", "--steps", "1"]
    assert main(["baseline", "unet", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "u.csv")] + ck) == 2
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"unet": {"patch_vox": 18, "widths": [4, 8, 16]}}}))
    assert main(["baseline", "unet", "--data", str(public), "--out", str(tmp_path / "u.csv"),
                 "--params", str(params)] + ck) == 2
    params.write_text(yaml.safe_dump({"baselines": {"unet": {"no_such_key": 1}}}))
    assert main(["baseline", "unet", "--data", str(public), "--out", str(tmp_path / "u.csv"),
                 "--params", str(params)] + ck) == 2


def test_shipped_parameter_sections_validate():
    from pathlib import Path

    from baselines.classifier.params import CNNParams
    from baselines.params_io import load_method_params
    from baselines.unet.params import UNetParams

    root = Path(__file__).resolve().parents[2]
    for path in (root / "params.yaml", root / "params" / "baselines_gpu.yaml"):
        unet = load_method_params(UNetParams, "unet", str(path), {})
        cnn = load_method_params(CNNParams, "cnn", str(path), {})
        assert unet.tversky_beta > unet.tversky_alpha and cnn.jitter_fraction > 0
    gpu = load_method_params(UNetParams, "unet", str(root / "params" / "baselines_gpu.yaml"), {})
    assert gpu.widths == [32, 48, 64] and gpu.patch_vox == 56 and gpu.device == "cuda"
