"""Presets, the dataset section and packaging (public / private split) on hand-made tomogram folders."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tomobench.classes import ClassTable, write_classes
from tomobench.dataset import PUBLIC_TEST_FILES, DatasetParams, package, tomo_index
from tomobench.errors import InputError
from tomobench.imod import write_tilt_stack
from tomobench.presets import deep_merge, key_line, load_preset, set_params_args, set_scalar, validate_section
from tomobench.testing import write_sphere_truth
from tomobench.volumes import write_volume

TABLE = ClassTable.from_records([
    {"class_name": "1bxn", "label": 1, "mass_kda": 560.0},
    {"class_name": "4v94", "label": 2, "mass_kda": 2500.0},
    {"class_name": "membrane", "label": 3, "kind": "membrane"}])


def _params_tree(tmp_path: Path, base: dict, presets: dict[str, dict]) -> Path:
    (tmp_path / "params").mkdir()
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    for name, doc in presets.items():
        (tmp_path / "params" / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_deep_merge_replaces_leaves_and_merges_mappings():
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 5}}, "f": 1}
    out = deep_merge(base, {"a": {"c": [3], "d": {"g": 6}}})
    assert out == {"a": {"b": 1, "c": [3], "d": {"e": 5, "g": 6}}, "f": 1}
    assert base["a"]["c"] == [1, 2]  # the base is not modified


def test_preset_overrides_only_its_keys_and_unknown_preset_lists_them(tmp_path):
    base = {"dataset": {"n_tomos": 4, "n_test": 1, "seed": 7}, "scene": {"shape_xyz": [64, 64, 32]}}
    path = _params_tree(tmp_path, base, {"crowded": {"dataset": {"n_tomos": 6}}, "tiny": {}})
    doc, sources = load_preset("crowded", path)
    assert doc["dataset"] == {"n_tomos": 6, "n_test": 1, "seed": 7}
    assert sources == [path, tmp_path / "params" / "crowded.yaml"]
    assert load_preset("default", path)[0] == base
    with pytest.raises(InputError, match="no preset named 'shrec2099'.*default, crowded, tiny"):
        load_preset("shrec2099", path)
    assert set_params_args("crowded", path) == ["-S", "dataset.n_tomos=6"]


def test_a_preset_includes_section_fragments_which_are_not_presets_themselves(tmp_path):
    base = {"dataset": {"n_tomos": 4}, "scene": {"shape_xyz": [64, 64, 32], "occupancy": 0.1}}
    presets = {"scene_crowded": {"scene": {"occupancy": 0.6, "packing_model": "voxel"}},
               "crowded": {"include": ["scene_crowded"], "scene": {"packing_model": "multiball"}}}
    path = _params_tree(tmp_path, base, presets)
    doc, _ = load_preset("crowded", path)
    assert doc["scene"] == {"shape_xyz": [64, 64, 32], "occupancy": 0.6, "packing_model": "multiball"}
    assert "scene_crowded" not in load_preset.__globals__["preset_names"](path)
    (tmp_path / "params" / "broken.yaml").write_text("include: [scene_nothing]\n")
    with pytest.raises(InputError, match="fragment 'scene_nothing' not found") as info:
        load_preset("broken", path)
    assert info.value.line == 1


def test_wrong_type_names_the_key_the_file_and_the_line(tmp_path):
    base = {"dataset": {"n_tomos": 4, "n_test": 1}}
    path = _params_tree(tmp_path, base, {"bad": {"dataset": {"seed": "many"}}})
    doc, sources = load_preset("bad", path)
    with pytest.raises(InputError) as info:
        validate_section(DatasetParams, doc, "dataset", sources)
    err = info.value
    assert "dataset.seed" in err.message and Path(err.path).name == "bad.yaml" and err.line == 2
    doc, sources = load_preset("default", path)
    doc["dataset"]["n_test"] = 4
    with pytest.raises(InputError, match="leaves no training tomogram"):
        validate_section(DatasetParams, doc, "dataset", sources)


def test_a_bad_value_from_an_included_fragment_names_the_fragment_and_its_line(tmp_path):
    base = {"dataset": {"n_tomos": 4, "n_test": 1}, "scene": {"occupancy": 0.1}}
    path = _params_tree(tmp_path, base, {"crowded": {"include": ["dataset_crowded"], "scene": {"occupancy": 0.6}}})
    (tmp_path / "params" / "dataset_crowded.yaml").write_text("# a fragment\ndataset:\n  n_tomos: 6\n  seed: many\n")
    doc, sources = load_preset("crowded", path)
    assert sources == [path, tmp_path / "params" / "dataset_crowded.yaml", tmp_path / "params" / "crowded.yaml"]
    with pytest.raises(InputError) as info:
        validate_section(DatasetParams, doc, "dataset", sources)
    err = info.value
    assert "dataset.seed" in err.message and Path(err.path).name == "dataset_crowded.yaml" and err.line == 4


def test_release_refuses_a_bad_version_in_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    from tomobench.cli import main

    path = _params_tree(tmp_path, {"dataset": {"n_tomos": 4, "n_test": 1, "version": "dev"}}, {})
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / ".dvc").mkdir()
    before = path.read_text()
    monkeypatch.chdir(tmp_path)
    assert main(["dataset", "release", "v 1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "version 'v 1' may hold only" in err, err
    assert path.read_text() == before


def test_unknown_section_is_an_error(tmp_path):
    path = _params_tree(tmp_path, {"dataset": {}, "scenery": {}}, {})
    with pytest.raises(InputError, match="unknown section 'scenery'") as info:
        load_preset("default", path)
    assert info.value.line == 2


def test_tomogram_list_must_match_n_tomos():
    assert DatasetParams(n_tomos=3, n_test=1, tomograms=["tomo_000", "tomo_001", "tomo_002"]).split() == \
        (["tomo_000", "tomo_001"], ["tomo_002"])
    with pytest.raises(Exception, match="tomograms must list"):
        DatasetParams(n_tomos=3, n_test=1, tomograms=["tomo_000", "tomo_001"])
    assert tomo_index("tomo_012") == 12
    with pytest.raises(InputError):
        tomo_index("tomogram_1")


def test_set_scalar_keeps_comments(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dataset:\n  name: x   # the name\n  version: dev      # set by release\nscene: {}\n")
    set_scalar(path, "dataset.version", "v1.0")
    assert path.read_text() == ("dataset:\n  name: x   # the name\n  version: \"v1.0\"      # set by release\n"
                                "scene: {}\n")
    assert key_line(path, "scene") == 4
    with pytest.raises(InputError):
        set_scalar(path, "dataset.seed", 3)


def _fake_dataset(root: Path, n: int) -> tuple[Path, Path]:
    """n tomogram folders (sphere truth + imaging files) and a structure library."""
    tomos, structures = root / "tomograms", root / "structures"
    rng = np.random.default_rng(3)
    for i in range(n):
        folder = tomos / f"tomo_{i:03d}"
        classes = ["1bxn"] * (i + 1) + ["4v94"] * 2 + ["membrane"]
        centres = [[4 + 6 * k, 8 + i, 10] for k in range(len(classes))]
        write_sphere_truth(folder, classes, centres, [2] * len(classes), shape_zyx=(20, 32, 48), class_table=TABLE)
        write_volume(folder / "reconstruction.mrc", rng.normal(size=(20, 32, 48)).astype(np.float32), 10.0)
        write_tilt_stack(folder / "projections.mrc", rng.normal(size=(3, 32, 48)).astype(np.float32), 10.0,
                         [-30, 0, 30])
        write_volume(folder / "grandmodel.mrc", rng.normal(size=(20, 32, 48)).astype(np.float32), 10.0)
        (folder / "tilt_angles.txt").write_text("-30\n0\n30\n")
        (folder / "acquisition.json").write_text(json.dumps({"voltage_kv": 300}))
    write_classes(TABLE, structures / "classes.csv")
    write_volume(structures / "1bxn.mrc", np.ones((5, 5, 5), np.float32), 10.0)
    (structures / "cache").mkdir()
    (structures / "cache" / "1bxn.cif").write_text("downloaded")
    return tomos, structures


def test_package_hides_the_test_truth_and_writes_a_reproducible_card(tmp_path):
    tomos, structures = _fake_dataset(tmp_path, 3)
    params = DatasetParams(name="t", n_tomos=3, n_test=1)
    public, private = tmp_path / "public", tmp_path / "private"
    summary = package(tomos, structures, public, private, params, parameters={"scene": {"shape_xyz": [48, 32, 20]}})
    assert summary.train == ["tomo_000", "tomo_001"] and summary.test == ["tomo_002"]
    assert sorted(p.name for p in (public / "test" / "tomo_002").iterdir()) == sorted(PUBLIC_TEST_FILES)
    assert {p.parent.name for p in public.rglob("particle_locations.txt")} == {"tomo_000", "tomo_001"}
    hidden = private / "test" / "tomo_002"
    assert {"particle_locations.txt", "occupancy_mask.mrc", "class_mask.mrc", "grandmodel.mrc", "classes.csv"} <= \
        {p.name for p in hidden.iterdir()}
    assert not (hidden / "reconstruction.mrc").exists()
    assert not (public / "structures" / "cache").exists() and (public / "structures" / "1bxn.mrc").is_file()
    # counts by hand: tomo_000 has 1 + 2 + 1, tomo_001 2 + 2 + 1 (train); tomo_002 3 + 2 + 1 (test)
    counts = summary.counts.set_index("class_name")
    assert counts.loc["1bxn", "train"] == 3 and counts.loc["4v94", "train"] == 4 and counts.loc["1bxn", "test"] == 3
    card = (public / "README.md").read_text()
    assert "| 1bxn | medium | 3 |" in card and "| 4v94 | large | 4 |" in card and "shape_xyz" in card
    sums = dict(reversed(line.split("  ")) for line in (public / "SHA256SUMS").read_text().splitlines())
    for rel, digest in sums.items():
        assert hashlib.sha256((public / rel).read_bytes()).hexdigest() == digest
    assert len(sums) == sum(1 for p in public.rglob("*") if p.is_file()) - 2  # all but the card and SHA256SUMS
    before = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    package(tomos, structures, public, private, params, parameters={"scene": {"shape_xyz": [48, 32, 20]}})
    after = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert before == after


def test_package_refuses_missing_tomograms(tmp_path):
    tomos, structures = _fake_dataset(tmp_path, 2)
    with pytest.raises(InputError, match=r"\['tomo_002'\] are missing"):
        package(tomos, structures, tmp_path / "pub", tmp_path / "priv", DatasetParams(n_tomos=3, n_test=1))


def test_package_cli_needs_the_preset_the_tomograms_were_simulated_with(tmp_path, monkeypatch, capsys):
    from tomobench.cli import main

    tomos, structures = _fake_dataset(tmp_path, 3)
    _params_tree(tmp_path, {"dataset": {"name": "t", "n_tomos": 2, "n_test": 1}},
                 {"three": {"dataset": {"n_tomos": 3}}})
    monkeypatch.chdir(tmp_path)
    args = ["dataset", "package", "--tomograms", str(tomos), "--structures", str(structures),
            "--public", "pub", "--private", "priv"]
    assert main(args) == 2                                   # params.yaml says 2 tomograms; the folder has 3
    err = capsys.readouterr().err
    assert "tomo_002 beyond dataset.n_tomos = 2" in err and "--preset NAME" in err
    assert not (tmp_path / "pub").exists()
    assert main(args + ["--preset", "three"]) == 0
    assert sorted(p.name for p in (tmp_path / "pub" / "train").iterdir()) == ["tomo_000", "tomo_001"]
    assert sorted(p.name for p in (tmp_path / "pub" / "test").iterdir()) == ["tomo_002"]


def test_relative_remote_urls_are_made_absolute_and_others_kept(tmp_path):
    from tomobench.dataset_cli import absolute_remote_url, config_remotes

    dvc_dir = tmp_path / "repo" / ".dvc"
    dvc_dir.mkdir(parents=True)
    assert absolute_remote_url("../.dvc-remotes/public", dvc_dir) == str(tmp_path / "repo" / ".dvc-remotes" / "public")
    assert absolute_remote_url("store", dvc_dir) == str(dvc_dir / "store")
    for kept in ("/srv/dvc", "s3://bucket/dvc", "ssh://host/srv/dvc", "https://data.example.org/dvc",
                 "file:///srv/dvc", ""):
        assert absolute_remote_url(kept, dvc_dir) is None
    (dvc_dir / "config").write_text("[core]\n    remote = private\n['remote \"public\"']\n    url = ../pub\n"
                                    "['remote \"private\"']\n    url = s3://b/p\n    region = x\n")
    assert config_remotes(dvc_dir / "config") == {"public": "../pub", "private": "s3://b/p"}
    assert config_remotes(dvc_dir / "config.local") == {}
