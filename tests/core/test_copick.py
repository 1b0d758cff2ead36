"""copick picks files and projects, checked with the real copick package."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from tomobench.classes import ClassTable, write_classes
from tomobench.cli import main
from tomobench.copick_format import copick_name, copick_names, resolve_class_names, write_copick_picks
from tomobench.errors import InputError
from tomobench.euler import euler_to_matrix, matrix_to_euler, random_rotations
from tomobench.groundtruth import PARTICLE_LOCATIONS, RECONSTRUCTION
from tomobench.particles import check_classes, make_particles, read_particles, write_particles
from tomobench.volumes import write_volume

copick = pytest.importorskip("copick")
from copick.models import CopickPicksFile, PickableObject  # noqa: E402
from copick.util.escape import sanitize_name  # noqa: E402

VOXEL_A = 10.0
CLASS_NAMES = ["pdb_1bxn", "ribosome 80S", "a:b/c", "plain", "mem_brane_"]
DATASET_CLASSES = ["pdb_1bxn", "a:b/c", "plain", "mem_brane_", "x|y"]        # SHREC text: no white space


def rotations(df):
    return euler_to_matrix(df["phi"].to_numpy(), df["theta"].to_numpy(), df["psi"].to_numpy())


@pytest.mark.parametrize("name", CLASS_NAMES + ["x__y", "_lead", "tab\tname"])
def test_copick_names_follow_copicks_own_rule_and_are_legal(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert copick_name(name) == sanitize_name(name)
    PickableObject(name=copick_name(name), is_particle=True)       # copick's validator accepts it


def test_colliding_copick_names_are_refused():
    assert copick_names(["pdb_1bxn", "ribosome"]) == {"pdb_1bxn": "pdb-1bxn", "ribosome": "ribosome"}
    with pytest.raises(InputError, match="both become"):
        copick_names(["a_b", "a-b"])
    # reading never fails on such a table: an ambiguous name is simply not mapped
    names = pd.Series(["a-b", "c-d", "x y"])
    assert resolve_class_names(names, ["a_b", "a b", "c_d"]).tolist() == ["a-b", "c_d", "x y"]


@pytest.fixture
def picks(rng):
    n = 24
    return make_particles(rng.choice(["pdb_1bxn", "ribosome 80S"], n), rng.uniform(0, 60, (n, 3)),
                          matrix_to_euler(random_rotations(n, rng)), score=rng.random(n),
                          tomo=rng.choice(["tomo_000", "tomo_001"], n))


def test_one_copick_picks_file_per_object_and_run_that_copick_parses(tmp_path, picks):
    written = write_copick_picks(picks, tmp_path, VOXEL_A)
    assert len(written) == 4
    seen = set()
    for path in written:
        theirs = CopickPicksFile.model_validate_json(path.read_text())      # copick's own model
        assert path.name == f"tomobench_0_{theirs.pickable_object_name}.json"
        assert path.parent.parent.name == theirs.run_name
        seen.add((theirs.run_name, theirs.pickable_object_name))
        back = read_particles(path, voxel_size_a=VOXEL_A, label_to_class={1: "pdb_1bxn", 2: "ribosome 80S"})
        check_classes(back, ["pdb_1bxn", "ribosome 80S"], path, allow_unknown=False)
        mine = picks[(picks["tomo"] == theirs.run_name) & (picks["class"] == back["class"].iloc[0])]
        np.testing.assert_allclose(back[["x", "y", "z", "score"]], mine[["x", "y", "z", "score"]], atol=1e-9)
        np.testing.assert_allclose(rotations(back), rotations(mine), atol=1e-9)
        their_xyz = np.array([[p.location.x, p.location.y, p.location.z] for p in theirs.points])
        np.testing.assert_allclose(their_xyz, mine[["x", "y", "z"]].to_numpy() * VOXEL_A)
    assert seen == {(t, c) for t in ("tomo_000", "tomo_001") for c in ("pdb-1bxn", "ribosome-80S")}


def test_several_groups_in_one_json_file_are_refused(tmp_path, picks):
    with pytest.raises(ValueError, match="one object in one run"):
        write_particles(picks, tmp_path / "p.json", voxel_size_a=VOXEL_A)


def test_copick_legal_names_unknown_without_the_class_table(tmp_path, picks):
    path = write_copick_picks(picks, tmp_path, VOXEL_A)[0]
    back = read_particles(path, voxel_size_a=VOXEL_A)
    with pytest.raises(InputError, match="unknown class"):
        check_classes(back, ["pdb_1bxn", "ribosome 80S"], path)


def test_the_translation_column_moves_the_centre(tmp_path):
    # copick: centre = location + transformation_[:3, 3] (both in Å). Written by copick's own model.
    from copick.models import CopickLocation, CopickPoint
    matrix = np.eye(4)
    matrix[:3, 3] = [30.0, -10.0, 5.0]
    point = CopickPoint(location=CopickLocation(x=100.0, y=200.0, z=300.0), transformation_=matrix.tolist())
    doc = CopickPicksFile(pickable_object_name="pdb-1bxn", user_id="someone", session_id="1", run_name="tomo_000",
                          voxel_spacing=VOXEL_A, points=[point])
    (tmp_path / "p.json").write_text(doc.model_dump_json())
    back = read_particles(tmp_path / "p.json", voxel_size_a=VOXEL_A, label_to_class={1: "pdb_1bxn"})
    assert back["class"].tolist() == ["pdb_1bxn"]
    np.testing.assert_allclose(back[["x", "y", "z"]].to_numpy()[0], [13.0, 19.0, 30.5])


def _public_dataset(root, rng):
    table = ClassTable.from_records([
        {"class_name": name, "label": i + 1, "pdb_id": "1BXN" if i == 0 else "", "mass_kda": 500.0,
         "radius_nm": 5.0, "kind": "protein"} for i, name in enumerate(DATASET_CLASSES)])
    write_classes(table, root / "classes.csv")
    truths = {}
    for split, tomo in (("train", "tomo_000"), ("train", "tomo_001"), ("test", "tomo_002")):
        folder = root / split / tomo
        write_volume(folder / RECONSTRUCTION, rng.normal(size=(12, 20, 16)).astype(np.float32), VOXEL_A)
        if split == "train":
            n = 7
            truth = make_particles(rng.choice(DATASET_CLASSES, n), rng.uniform(0, 11, (n, 3)),
                                   matrix_to_euler(random_rotations(n, rng)))
            write_particles(truth, folder / PARTICLE_LOCATIONS, "shrec")
            truths[tomo] = read_particles(folder / PARTICLE_LOCATIONS)       # as rounded in the file
    return truths


def test_export_copick_writes_a_project_that_copick_opens(tmp_path, rng):
    public = tmp_path / "public"
    truths = _public_dataset(public, rng)
    out = tmp_path / "project"
    assert main(["dataset", "export-copick", "--public", str(public), "--out", str(out), "--split", "all"]) == 0
    root = copick.from_file(str(out / "copick_config.json"))
    assert sorted(o.name for o in root.pickable_objects) == sorted(sanitize_name(n, True) for n in DATASET_CLASSES)
    assert sorted(r.name for r in root.runs) == ["tomo_000", "tomo_001", "tomo_002"]
    for run in root.runs:
        tomogram = run.get_voxel_spacing(VOXEL_A).get_tomograms("wbp")[0]
        from tomobench.volumes import read_volume
        split = "test" if run.name == "tomo_002" else "train"
        expected, _ = read_volume(public / split / run.name / RECONSTRUCTION)
        np.testing.assert_array_equal(tomogram.numpy(), expected)
        picks = run.get_picks(user_id="tomobench")
        if run.name == "tomo_002":
            assert picks == []                      # test truth stays private
            continue
        truth = truths[run.name]
        got = []
        for p in picks:
            positions, transforms = p.numpy()
            name = next(o.metadata["tomobench_class"] for o in root.pickable_objects
                        if o.name == p.pickable_object_name)
            got += [(name, *np.round(pos / VOXEL_A, 6)) for pos in positions]
            mine = truth[truth["class"] == name]
            np.testing.assert_allclose(transforms[:, :3, :3], rotations(mine), atol=1e-9)
        assert sorted(got) == sorted((c, *np.round(xyz, 6)) for c, xyz in
                                     zip(truth["class"], truth[["x", "y", "z"]].to_numpy()))


def test_export_copick_refuses_a_folder_without_tomograms(tmp_path):
    write_classes(ClassTable.from_records([{"class_name": "a", "label": 1}]), tmp_path / "classes.csv")
    assert main(["dataset", "export-copick", "--public", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.parametrize("fmt", ["copick", "relion5"])
def test_scored_as_the_truth_when_written_by_copick_or_as_relion5(tmp_path, fmt):
    # The scorer's reading path: copick-legal names, a translation column, RELION 5 centred coordinates.
    from scoring.api import score_file
    from tomobench.testing import write_sphere_truth
    table = ClassTable.from_records([{"class_name": "pdb_1bxn", "label": 1}, {"class_name": "big_one", "label": 2}])
    centres = [(8, 8, 8), (20, 22, 10), (10, 24, 20)]
    classes = ["pdb_1bxn", "big_one", "pdb_1bxn"]
    truth = write_sphere_truth(tmp_path / "tomo_000", classes, centres, [3, 3, 3], shape_zyx=(32, 32, 32),
                               class_table=table, voxel_size_a=VOXEL_A)
    picks = make_particles(classes, centres, np.zeros((3, 3)), tomo="tomo_000")
    if fmt == "copick":
        from copick.models import CopickLocation, CopickPoint
        files = []
        for name in ("pdb-1bxn", "big-one"):
            mine = picks[picks["class"] == name.replace("-", "_")]
            points = []
            for x, y, z in mine[["x", "y", "z"]].to_numpy() * VOXEL_A:
                matrix = np.eye(4)
                matrix[:3, 3] = [30.0, 0.0, -20.0]              # the centre is location + translation
                points.append(CopickPoint(location=CopickLocation(x=x - 30.0, y=y, z=z + 20.0),
                                          transformation_=matrix.tolist()))
            files.append(json.loads(CopickPicksFile(pickable_object_name=name, user_id="someone", session_id="1",
                                                    run_name="tomo_000", points=points).model_dump_json()))
        path = tmp_path / "sub.json"
        path.write_text(json.dumps(files))
    else:
        path = write_particles(picks, tmp_path / "sub.star", voxel_size_a=VOXEL_A, relion_version="relion5",
                               tomo_shape_xyz=(32, 32, 32), class_to_label={"pdb_1bxn": 1, "big_one": 2})
    report = score_file(path, truth)
    assert (report["TP"], report["FP"], report["FN"]) == (3, 0, 0)
    assert report["AD"] == pytest.approx(0.0, abs=1e-6)
    assert report["per_class"]["pdb_1bxn"]["tp"] == 2 and report["per_class"]["big_one"]["tp"] == 1
