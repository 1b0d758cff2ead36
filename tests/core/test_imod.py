"""IMOD tilt stacks and point files."""

import io

import mrcfile
import numpy as np
import pandas as pd
import pytest

from tomobench.imod import point_model_table, write_point_model, write_tilt_stack
from tomobench.particles import make_particles
from tomobench.volumes import read_volume, write_volume


def test_tilt_stack_is_an_image_stack_with_angle_files(tmp_path, rng):
    views = rng.normal(size=(3, 8, 6)).astype(np.float32)
    path = write_tilt_stack(tmp_path / "projections.mrc", views, 7.5, [-30, 0, 30.5])
    with mrcfile.open(path) as mrc:
        assert mrc.header.ispg == 0 and mrc.is_image_stack()     # a stack of images, not a volume
        assert float(mrc.voxel_size.x) == pytest.approx(7.5)
        np.testing.assert_array_equal(mrc.data, views)
    assert mrcfile.validate(str(path), print_file=io.StringIO())
    assert (tmp_path / "projections.rawtlt").read_text().split() == ["-30.0000", "0.0000", "30.5000"]
    assert (tmp_path / "projections.tlt").read_text() == (tmp_path / "projections.rawtlt").read_text()
    data, voxel = read_volume(path)                              # still readable as a 3D array
    assert data.shape == (3, 8, 6) and voxel == pytest.approx(7.5)


def test_volumes_stay_volumes(tmp_path, rng):
    with mrcfile.open(write_volume(tmp_path / "v.mrc", rng.normal(size=(3, 4, 5)), 1.0)) as mrc:
        assert mrc.header.ispg == 1 and mrc.is_volume()


def test_tilt_stack_needs_one_angle_per_view(tmp_path):
    with pytest.raises(ValueError, match="one angle each"):
        write_tilt_stack(tmp_path / "p.mrc", np.zeros((3, 4, 4), np.float32), 1.0, [0, 10])


def test_point_model_numbers_objects_in_class_table_order(tmp_path):
    picks = make_particles(["b", "a", "b", "c"], [(1, 2, 3), (4, 5, 6), (7.25, 8, 9), (0, 0, 0)])
    rows, classes = point_model_table(picks, ["a", "b"])
    assert classes == ["a", "b", "c"]
    np.testing.assert_array_equal(rows, [[1, 1, 4, 5, 6], [2, 1, 1, 2, 3], [2, 1, 7.25, 8, 9], [3, 1, 0, 0, 0]])
    path = write_point_model(picks, tmp_path / "picks.txt", ["a", "b"])
    assert path.read_text().splitlines()[:2] == ["1 1 4.000 5.000 6.000", "2 1 1.000 2.000 3.000"]
    objects = pd.read_csv(tmp_path / "picks_objects.csv")
    assert objects.to_dict("list") == {"object": [1, 2, 3], "class": ["a", "b", "c"]}
