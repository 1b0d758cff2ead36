"""Round trips of every particle-list format, and the format's own conventions."""

import json

import numpy as np
import pandas as pd
import pytest

from tomobench.errors import InputError
from tomobench.euler import euler_to_matrix
from tomobench.particles import make_particles, read_particles, write_particles


@pytest.fixture
def picks(rng):
    n = 25
    return make_particles(rng.choice(["1bxn", "ribosome", "unknown"], n), rng.uniform(0, 200, (n, 3)),
                          np.column_stack([rng.uniform(-180, 180, n), rng.uniform(1, 179, n),
                                           rng.uniform(-180, 180, n)]),
                          score=rng.random(n), tomo=rng.choice(["tomo_000", "tomo_001"], n))


def same_rotations(a: pd.DataFrame, b: pd.DataFrame):
    ra = euler_to_matrix(a["phi"].to_numpy(), a["theta"].to_numpy(), a["psi"].to_numpy())
    rb = euler_to_matrix(b["phi"].to_numpy(), b["theta"].to_numpy(), b["psi"].to_numpy())
    np.testing.assert_allclose(ra, rb, atol=1e-4)


def test_csv_round_trip(tmp_path, picks):
    back = read_particles(write_particles(picks, tmp_path / "p.csv"))
    assert back["class"].tolist() == picks["class"].tolist()
    assert back["tomo"].tolist() == picks["tomo"].tolist()
    np.testing.assert_allclose(back[["x", "y", "z", "score"]], picks[["x", "y", "z", "score"]], rtol=1e-5)
    same_rotations(back, picks)


def test_shrec_round_trip(tmp_path, picks):
    single = picks.assign(tomo="")
    back = read_particles(write_particles(single, tmp_path / "p.txt"))
    assert back["class"].tolist() == single["class"].tolist()
    np.testing.assert_allclose(back[["x", "y", "z"]], single[["x", "y", "z"]], rtol=1e-5)
    same_rotations(back, single)


def test_star_round_trip_keeps_rotations_through_relion_angles(tmp_path, picks):
    labels = {"1bxn": 1, "ribosome": 2, "unknown": 3}
    path = write_particles(picks, tmp_path / "p.star", class_to_label=labels)
    back = read_particles(path, label_to_class={v: k for k, v in labels.items()})
    assert back["class"].tolist() == picks["class"].tolist()
    assert back["tomo"].tolist() == picks["tomo"].tolist()
    np.testing.assert_allclose(back[["x", "y", "z"]], picks[["x", "y", "z"]], rtol=1e-5)
    same_rotations(back, picks)


def test_star_angles_are_relion_zyz(tmp_path):
    import starfile
    # tomobench's Rz(90) takes +x to +y; RELION's Euler_angles2matrix(rot, 0, psi) is Rz(-(rot + psi)),
    # so the same particle is written with tilt = 0 and rot + psi = -90.
    path = write_particles(make_particles(["a"], [(1, 2, 3)], [(90, 0, 0)]), tmp_path / "p.star")
    df = starfile.read(path, always_dict=True)["particles"]
    assert df["rlnAngleTilt"].iloc[0] == pytest.approx(0, abs=1e-9)
    assert (df["rlnAngleRot"].iloc[0] + df["rlnAnglePsi"].iloc[0]) == pytest.approx(-90)
    # A RELION tilt about y: Euler_angles2matrix(0, 90, 0) = [[0, 0, -1], [0, 1, 0], [1, 0, 0]].
    starfile.write({"particles": pd.DataFrame({"rlnCoordinateX": [1.0], "rlnCoordinateY": [2.0],
                                               "rlnCoordinateZ": [3.0], "rlnAngleRot": [0.0],
                                               "rlnAngleTilt": [90.0], "rlnAnglePsi": [0.0]})},
                   tmp_path / "y.star", overwrite=True)
    back = read_particles(tmp_path / "y.star")
    r = euler_to_matrix(*back[["phi", "theta", "psi"]].to_numpy()[0])
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(r @ [0, 0, 1], [-1, 0, 0], atol=1e-9)


def test_copick_round_trip_in_angstrom(tmp_path, picks):
    one = picks[(picks["tomo"] == "tomo_000") & (picks["class"] == "1bxn")]
    path = write_particles(one, tmp_path / "p.json", voxel_size_a=7.5)
    doc = json.loads(path.read_text())
    assert (doc["run_name"], doc["pickable_object_name"]) == ("tomo_000", "1bxn")
    assert doc["points"][0]["location"]["x"] == pytest.approx(one["x"].iloc[0] * 7.5)
    back = read_particles(path, voxel_size_a=7.5)
    assert back["class"].tolist() == one["class"].tolist()
    np.testing.assert_allclose(back[["x", "y", "z", "score"]], one[["x", "y", "z", "score"]], rtol=1e-9)
    same_rotations(back, one)


def test_copick_needs_voxel_size(tmp_path, picks):
    path = write_particles(picks.iloc[:1], tmp_path / "p.json", voxel_size_a=10)
    with pytest.raises(InputError, match="voxel size"):
        read_particles(path)


def test_csv_without_angles_has_nan_angles(tmp_path):
    (tmp_path / "p.csv").write_text("class,x,y,z\nA,1,2,3\n")
    back = read_particles(tmp_path / "p.csv")
    assert back[["phi", "theta", "psi"]].isna().all(axis=None)
    assert back["line"].tolist() == [2]
