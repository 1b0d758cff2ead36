"""RELION 4/5 tomography STAR files, against hand-computed cases and copick's own RELION converters."""

import numpy as np
import pandas as pd
import pytest
import starfile

from tomobench.errors import InputError
from tomobench.euler import euler_to_matrix, matrix_to_euler, random_rotations
from tomobench.particles import make_particles, read_particles, write_particles

VOXEL_A = 10.0
SHAPE_XYZ = (64, 48, 32)


@pytest.fixture
def picks(rng):
    n = 30
    angles = matrix_to_euler(random_rotations(n, rng))
    return make_particles(rng.choice(["1bxn", "ribosome"], n), rng.uniform(0, 30, (n, 3)), angles,
                          score=rng.random(n), tomo=rng.choice(["tomo_000", "tomo_001"], n))


def rotations(df: pd.DataFrame) -> np.ndarray:
    return euler_to_matrix(df["phi"].to_numpy(), df["theta"].to_numpy(), df["psi"].to_numpy())


def star_file(tmp_path, particles: dict, optics: dict | None = None):
    blocks = {"particles": pd.DataFrame(particles)}
    if optics is not None:
        blocks = {"optics": pd.DataFrame(optics), **blocks}
    starfile.write(blocks, tmp_path / "in.star", overwrite=True)
    return tmp_path / "in.star"


def test_relion4_file_has_optics_and_always_a_tomo_name(tmp_path):
    single = make_particles(["a"], [(1, 2, 3)], [(10, 20, 30)])          # no tomogram name
    blocks = starfile.read(write_particles(single, tmp_path / "p.star", voxel_size_a=VOXEL_A), always_dict=True)
    assert list(blocks) == ["optics", "particles"]
    assert blocks["optics"]["rlnTomoTiltSeriesPixelSize"].tolist() == [VOXEL_A]
    assert blocks["particles"]["rlnTomoName"].tolist() == ["tomo"]
    assert blocks["particles"]["rlnOpticsGroup"].tolist() == [1]
    assert blocks["particles"][["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].iloc[0].tolist() == [1, 2, 3]


def test_origins_are_subtracted_from_the_coordinates(tmp_path):
    # RELION: centre = coordinate - origin. 100 px - 20 A / 10 A/px = 98 (a flipped sign would give 102).
    path = star_file(tmp_path, {"rlnTomoName": ["t"], "rlnCoordinateX": [100.0], "rlnCoordinateY": [50.0],
                                "rlnCoordinateZ": [20.0], "rlnOriginXAngst": [20.0], "rlnOriginYAngst": [-10.0],
                                "rlnOriginZAngst": [5.0], "rlnOpticsGroup": [1]},
                     {"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g"], "rlnTomoTiltSeriesPixelSize": [10.0]})
    for voxel in (None, 10.0):
        back = read_particles(path, voxel_size_a=voxel)
        np.testing.assert_allclose(back[["x", "y", "z"]].to_numpy()[0], [98.0, 51.0, 19.5])
    # tomogram voxels of 20 A over tilt-series pixels of 10 A: half the numbers.
    np.testing.assert_allclose(read_particles(path, voxel_size_a=20.0)[["x", "y", "z"]].to_numpy()[0],
                               [49.0, 25.5, 9.75])


def test_origins_without_any_pixel_size_are_refused(tmp_path):
    path = star_file(tmp_path, {"rlnCoordinateX": [1.0], "rlnCoordinateY": [2.0], "rlnCoordinateZ": [3.0],
                                "rlnOriginXAngst": [5.0], "rlnOriginYAngst": [0.0], "rlnOriginZAngst": [0.0]})
    with pytest.raises(InputError, match="pixel size"):
        read_particles(path)


def test_subtomogram_angles_compose_and_turn_the_origin(tmp_path):
    # rlnTomoSubtomogramRot = 90: A_sub = Euler_angles2matrix(90, 0, 0) takes +x to -y, so an origin of
    # +10 A in x shifts the centre by -A_sub @ (10, 0, 0) = +10 A in y (1 pixel).
    path = star_file(tmp_path, {"rlnCoordinateX": [5.0], "rlnCoordinateY": [5.0], "rlnCoordinateZ": [5.0],
                                "rlnOriginXAngst": [10.0], "rlnOriginYAngst": [0.0], "rlnOriginZAngst": [0.0],
                                "rlnTomoSubtomogramRot": [90.0], "rlnTomoSubtomogramTilt": [0.0],
                                "rlnTomoSubtomogramPsi": [0.0], "rlnAngleRot": [0.0], "rlnAngleTilt": [90.0],
                                "rlnAnglePsi": [0.0]},
                     {"rlnOpticsGroup": [1], "rlnTomoTiltSeriesPixelSize": [10.0]})
    back = read_particles(path, voxel_size_a=10.0)
    np.testing.assert_allclose(back[["x", "y", "z"]].to_numpy()[0], [5.0, 6.0, 5.0], atol=1e-9)
    a_sub = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    a_particle = np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_allclose(rotations(back)[0], a_sub @ a_particle, atol=1e-9)


@pytest.mark.parametrize("version", ["relion4", "relion5"])
def test_round_trip(tmp_path, picks, version):
    labels = {"1bxn": 1, "ribosome": 2}
    path = write_particles(picks, tmp_path / "p.star", voxel_size_a=VOXEL_A, class_to_label=labels,
                           relion_version=version, tomo_shape_xyz=SHAPE_XYZ)
    back = read_particles(path, voxel_size_a=VOXEL_A, tomo_shape_xyz=SHAPE_XYZ,
                          label_to_class={v: k for k, v in labels.items()})
    assert back["class"].tolist() == picks["class"].tolist()
    assert back["tomo"].tolist() == picks["tomo"].tolist()
    np.testing.assert_allclose(back[["x", "y", "z", "score"]], picks[["x", "y", "z", "score"]], atol=1e-5)  # 6 decimals
    np.testing.assert_allclose(rotations(back), rotations(picks), atol=1e-6)


def test_relion5_writes_centred_angstrom_and_needs_the_tomogram_size(tmp_path):
    one = make_particles(["a"], [(32, 24, 16)], [(0, 0, 0)], tomo="tomo_000")    # the centre of 64 x 48 x 32
    path = write_particles(one, tmp_path / "p.star", voxel_size_a=VOXEL_A, relion_version="relion5",
                           tomo_shape_xyz=SHAPE_XYZ)
    particles = starfile.read(path, always_dict=True)["particles"]
    assert "rlnCoordinateX" not in particles
    assert particles[["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
                      "rlnCenteredCoordinateZAngst"]].iloc[0].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(InputError, match="tomogram's size"):
        read_particles(path, voxel_size_a=VOXEL_A)
    shifted = star_file(tmp_path, {"rlnTomoName": ["t"], "rlnCenteredCoordinateXAngst": [-100.0],
                                   "rlnCenteredCoordinateYAngst": [0.0], "rlnCenteredCoordinateZAngst": [50.0],
                                   "rlnOriginXAngst": [10.0], "rlnOriginYAngst": [0.0], "rlnOriginZAngst": [0.0]})
    # x = 64 / 2 + (-100 - 10) / 10 = 21;  z = 32 / 2 + 50 / 10 = 21
    np.testing.assert_allclose(read_particles(shifted, voxel_size_a=VOXEL_A, tomo_shape_xyz=SHAPE_XYZ)
                               [["x", "y", "z"]].to_numpy()[0], [21.0, 24.0, 21.0])


# --------------------------------------------------------------------------- against copick's converters

copick_formats = pytest.importorskip("copick.util.formats")
copick_relion = pytest.importorskip("copick.util.relion")


@pytest.mark.parametrize("version", ["relion4", "relion5"])
def test_copick_reads_our_star_files_as_we_mean_them(tmp_path, picks, version):
    path = write_particles(picks, tmp_path / "p.star", voxel_size_a=VOXEL_A, relion_version=version,
                           tomo_shape_xyz=SHAPE_XYZ)
    particles, optics = copick_formats.read_star_particles_with_optics(str(path))
    centre_a = tuple(np.asarray(SHAPE_XYZ) / 2 * VOXEL_A)
    coords_a = copick_formats.relion_coordinates_to_angstrom(particles, optics=optics, tomogram_center=centre_a)
    their_rotations, offsets_a = copick_relion.relion_rows_to_poses(particles)
    np.testing.assert_allclose((coords_a - offsets_a) / VOXEL_A, picks[["x", "y", "z"]].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(their_rotations, rotations(picks), atol=1e-6)


@pytest.mark.parametrize("version", ["relion4", "relion5"])
def test_we_read_copicks_star_files_as_copick_means_them(tmp_path, picks, version):
    one = picks[picks["tomo"] == "tomo_000"]
    transforms = np.tile(np.eye(4), (len(one), 1, 1))
    transforms[:, :3, :3] = rotations(one)
    positions_a = one[["x", "y", "z"]].to_numpy() * VOXEL_A
    centres = {"tomo_000": tuple(np.asarray(SHAPE_XYZ) / 2 * VOXEL_A)} if version == "relion5" else None
    particles, optics = copick_formats.build_relion_star_tables(
        {"tomo_000": (positions_a, transforms)}, tilt_series_pixel_size=VOXEL_A, tomogram_centers=centres)
    assert version != "relion5" or "rlnCenteredCoordinateXAngst" in particles
    copick_formats.write_star_particles(str(tmp_path / "c.star"), particles, optics)
    back = read_particles(tmp_path / "c.star", voxel_size_a=VOXEL_A, tomo_shape_xyz=SHAPE_XYZ)
    assert set(back["tomo"]) == {"tomo_000"}
    np.testing.assert_allclose(back[["x", "y", "z"]].to_numpy(), one[["x", "y", "z"]].to_numpy(), atol=1e-4)
    np.testing.assert_allclose(rotations(back), rotations(one), atol=1e-5)
