"""Class table, volumes and ground-truth folders: validation and round trips."""

import json

import numpy as np
import pytest

from tomobench.classes import ClassTable, read_classes, size_group, write_classes
from tomobench.errors import InputError
from tomobench.groundtruth import find_truth_folders, load_truth
from tomobench.params import Params, load_section
from tomobench.testing import write_sphere_truth
from tomobench.volumes import label_dtype, read_volume, write_volume


@pytest.mark.parametrize("mass, group", [(199.9, "small"), (200, "medium"), (600, "medium"),
                                         (600.1, "large"), (float("nan"), "")])
def test_size_groups_follow_shrec_table_5(mass, group):
    assert size_group(mass) == group


def test_class_table_round_trip_and_defaults(tmp_path):
    table = ClassTable.from_records([
        {"class_name": "1bxn", "label": 1, "pdb_id": "1bxn", "mass_kda": 560},
        {"class_name": "vesicle", "label": 2, "kind": "vesicle"}])
    back = read_classes(write_classes(table, tmp_path / "classes.csv"))
    assert back.names == ["1bxn", "vesicle"]
    assert back.scored_names == ["1bxn"]
    assert back.row("1bxn")["size_group"] == "medium"
    assert back.groups() == {"small": [], "medium": ["1bxn"], "large": []}


@pytest.mark.parametrize("text, fragment", [
    ("class_name\nA\n", "label"),
    ("class_name,label\nA,1\nA,2\n", "appears twice"),
    ("class_name,label\nA,0\n", "positive"),
    ("class_name,label\nunknown,1\n", "reserved"),
])
def test_bad_class_tables(tmp_path, text, fragment):
    (tmp_path / "classes.csv").write_text(text)
    with pytest.raises(InputError, match=fragment):
        read_classes(tmp_path / "classes.csv")


def test_volume_round_trip_keeps_voxel_size_and_dtype(tmp_path, rng):
    data = rng.random((4, 5, 6)).astype(np.float64)
    path = write_volume(tmp_path / "v.mrc", data, 7.5)
    back, voxel = read_volume(path)
    assert back.dtype == np.float32 and back.shape == (4, 5, 6) and voxel == pytest.approx(7.5)
    np.testing.assert_allclose(back, data, rtol=1e-6)
    labels = np.arange(60, dtype=np.uint16).reshape(3, 4, 5) * 1000
    assert read_volume(write_volume(tmp_path / "l.mrc", labels, 10))[0].dtype == np.uint16


def test_label_dtype():
    assert label_dtype(255) == np.uint8 and label_dtype(256) == np.uint16
    assert label_dtype(70000) == np.float32


def test_read_volume_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_volume(tmp_path / "nope.mrc")
    (tmp_path / "bad.mrc").write_bytes(b"not an mrc file at all" * 100)
    with pytest.raises(InputError, match="not a readable MRC"):
        read_volume(tmp_path / "bad.mrc")


def test_truth_folder_discovery_and_checks(tmp_path):
    write_sphere_truth(tmp_path / "split" / "t1", ["A"], [(5, 5, 5)], [2])
    write_sphere_truth(tmp_path / "split" / "t2", ["A", "A"], [(5, 5, 5), (20, 20, 20)], [2, 2])
    assert list(find_truth_folders(tmp_path / "split")) == ["t1", "t2"]
    truth = load_truth(tmp_path / "split" / "t2")
    assert len(truth.particles) == 2 and truth.occupancy.max() == 2 and truth.voxel_size_a == 10
    # a mask that names more particles than the list holds
    (tmp_path / "split" / "t2" / "particle_locations.txt").write_text("A 5 5 5\n")
    with pytest.raises(InputError, match="do not belong together"):
        load_truth(tmp_path / "split" / "t2")


class Demo(Params):
    voxel_size_a: float = 10.0
    n: int = 3


def test_params_errors_name_file_and_key(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("demo:\n  voxel_size_a: ten\n")
    with pytest.raises(InputError, match=r"params.yaml.*demo.voxel_size_a"):
        load_section(path, "demo", Demo)
    path.write_text("demo:\n  colour: red\n")
    with pytest.raises(InputError, match="demo.colour"):
        load_section(path, "demo", Demo)
    path.write_text("demo: {n: 5}\n")
    assert load_section(path, "demo", Demo).n == 5
    path.write_text("demo: [unclosed\n")
    with pytest.raises(InputError, match="YAML"):
        load_section(path, "demo", Demo)


def test_scorer_plugin_is_the_scoring_package(tmp_path):
    from tomobench.particles import make_particles
    from tomobench.plugins import scorer
    truth = write_sphere_truth(tmp_path / "t", ["A", "A"], [(5, 5, 5), (20, 20, 20)], [2, 2])
    report = scorer()(make_particles(["A"], [(5, 5, 5)]), truth)
    assert (report["TP"], report["FN"]) == (1, 1)
    with pytest.raises(LookupError, match="no scorer"):
        scorer("nonexistent")


def test_acquisition_record_round_trips_and_names_a_bad_file(tmp_path):
    from tomobench.acquisition import AcquisitionRecord

    fields = dict(voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.08, defocus_um=3.0, astigmatism_um=0.0,
                  astigmatism_angle_deg=0.0, ctf_decay_nyquist=0.0, tilt_angles_deg=[-3.0, 0.0, 3.0],
                  tilt_axis_deg=0.0, reconstruction_tilt_axis_deg=0.0, projection_shape_yx=[64, 64],
                  tilt_scheme="dose_symmetric", voxel_size_a=10.0, noise_mode="snr", snr_definition="var ratio",
                  snr=0.02, snr_measured=0.02, snr_measured_per_view=[0.02, None, 0.02], snr_nominal=0.02,
                  dose_total_e_per_a2=2.5, equivalent_dose_total_e_per_a2=2.5, damage_model="none",
                  structural_noise_rel=0.0, phase_plate=False, phase_shift_deg=0.0, projection_mode="fast",
                  detector="counting", reconstruction_method="wbp", reconstruction_contrast="protein_bright",
                  ctf_correction="none", reconstruction_shape_zyx=[40, 64, 64], reconstruction_z_offset_vox=0,
                  projection_units="relative intensity")
    path = AcquisitionRecord(**fields).write(tmp_path / "acquisition.json")
    assert list(json.loads(path.read_text())) == list(fields)           # the file's keys, in the model's order
    assert AcquisitionRecord.read(path).model_dump() == fields
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**fields, "voltage_kv": "high"}))
    with pytest.raises(InputError, match="voltage_kv") as err:
        AcquisitionRecord.read(bad)
    assert "bad.json" in str(err.value)
