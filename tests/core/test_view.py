"""``tomobench view``: the PNG of slices with picks, napari's layers, and export-imod."""

import argparse
import sys

import numpy as np
import pytest
from PIL import Image

from tomobench.classes import ClassTable, write_classes
from tomobench.errors import InputError
from tomobench.particles import make_particles, write_particles
from tomobench.view import busiest_slice, napari_layers, open_napari, slice_picks, write_slices_png
from tomobench.view_cli import register_imod, register_view
from tomobench.volumes import write_volume


def run(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    register_view(sub)
    register_imod(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def test_busiest_slice_and_slab():
    assert busiest_slice(np.array([]), 10, 2) == 5                      # no picks: the centre
    assert busiest_slice(np.array([1.0, 2.0, 8.0]), 10, 1) in (1, 2)    # 1 and 2 both see two picks
    assert busiest_slice(np.array([1.0, 2.0, 8.0]), 10, 1) == 2         # tie -> nearest the centre
    picks = make_particles(["a", "a", "b"], [(0, 0, 3), (0, 0, 7.5), (0, 0, 5)])
    assert slice_picks(picks, "z", 5, 2)["z"].tolist() == [3.0, 5.0]


def _scene(shape=(24, 40, 48)):
    """A dark volume with bright cubes at the picks, so the picture can be checked by its pixels."""
    volume = np.zeros(shape, np.float32)
    centres = [(10, 12, 12), (36, 28, 12), (24, 20, 12)]
    for x, y, z in centres:
        volume[z - 2:z + 3, y - 2:y + 3, x - 2:x + 3] = 1.0
    picks = make_particles(["pdb_1bxn", "ribosome", "pdb_1bxn"], centres)
    return volume, picks


def _coloured_pixels(path):
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int(((np.abs(rgb[..., 0] - rgb[..., 1]) > 60) | (np.abs(rgb[..., 1] - rgb[..., 2]) > 60)).sum())


def test_png_shows_slices_with_picks_in_colour(tmp_path):
    volume, picks = _scene()
    with_picks = write_slices_png(volume, picks, tmp_path / "a.png", title="t")
    without = write_slices_png(volume, None, tmp_path / "b.png", title="t")
    assert Image.open(with_picks).format == "PNG"
    assert _coloured_pixels(without) == 0                    # grey slices only
    assert _coloured_pixels(with_picks) > 200                # circles and legend in class colours
    again = write_slices_png(volume, picks, tmp_path / "c.png", title="t")
    assert again.read_bytes() == with_picks.read_bytes()     # same inputs, same bytes


def test_view_cli_writes_the_png_with_picks_of_its_tomogram(tmp_path, capsys):
    volume, picks = _scene()
    folder = tmp_path / "tomo_000"
    write_volume(folder / "reconstruction.mrc", volume, 10.0)
    write_classes(ClassTable.from_records([{"class_name": "pdb_1bxn", "label": 1},
                                           {"class_name": "ribosome", "label": 2}]), tmp_path / "classes.csv")
    both = picks.assign(tomo="tomo_000")
    other = picks.assign(tomo="tomo_001", x=picks["x"] + 1)
    write_particles(both.iloc[:1].assign(**{"class": "pdb_1bxn"}), tmp_path / "one.json", voxel_size_a=10.0)
    import pandas as pd
    write_particles(pd.concat([both, other]), tmp_path / "p.star", voxel_size_a=10.0,
                    class_to_label={"pdb_1bxn": 1, "ribosome": 2})
    for name in ("p.star", "one.json"):
        out = tmp_path / f"{name}.png"
        assert run(["view", str(folder / "reconstruction.mrc"), "--picks", str(tmp_path / name),
                    "--png", str(out)]) == 0
        assert _coloured_pixels(out) > 100
    with pytest.raises(InputError, match="choose one with --tomo"):
        run(["view", str(folder / "reconstruction.mrc"), "--picks", str(tmp_path / "p.star"), "--tomo", "tomo_009",
             "--png", str(tmp_path / "x.png")])


def test_export_imod_from_the_cli(tmp_path):
    write_classes(ClassTable.from_records([{"class_name": "b", "label": 1}, {"class_name": "a", "label": 2}]),
                  tmp_path / "classes.csv")
    write_particles(make_particles(["a", "b"], [(1, 2, 3), (4, 5, 6)]), tmp_path / "p.txt")
    assert run(["export-imod", str(tmp_path / "p.txt"), str(tmp_path / "m.txt")]) == 0
    assert (tmp_path / "m.txt").read_text().splitlines() == ["1 1 4.000 5.000 6.000", "2 1 1.000 2.000 3.000"]


def test_napari_layers_put_picks_in_array_order():
    volume, picks = _scene()
    (image, image_kw, kind), (points, points_kw, kind2) = napari_layers(volume, picks, 10.0)
    assert (kind, kind2) == ("image", "points") and image is volume and image_kw["scale"] == (10.0,) * 3
    np.testing.assert_array_equal(points, picks[["z", "y", "x"]].to_numpy())
    assert points_kw["features"]["class"] == picks["class"].tolist()
    colours = points_kw["border_color"]
    assert colours[0] == colours[2] != colours[1]


def test_without_napari_the_viewer_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "napari", None)          # as if napari were not installed
    volume, picks = _scene()
    with pytest.raises(InputError, match=r'pip install "tomobench\[view\]"'):
        open_napari(volume, picks, run=False)


def test_napari_takes_the_layers():
    # napari's own layer models (headless ViewerModel: no Qt, no OpenGL), so kwargs are checked by napari.
    from napari import components  # in requirements.lock: napari itself, without Qt

    from tomobench.view import add_layers
    volume, picks = _scene()
    viewer = add_layers(components.ViewerModel(), volume, picks, 10.0)
    assert [layer.name for layer in viewer.layers] == ["tomogram", "picks"]
    np.testing.assert_array_equal(viewer.layers["picks"].data, picks[["z", "y", "x"]].to_numpy())
    assert viewer.layers["picks"].features["class"].tolist() == picks["class"].tolist()
    assert tuple(viewer.layers["tomogram"].scale) == (10.0, 10.0, 10.0)
    # a pick is seen on the slices its sphere (size 10 voxels = 100 Å) cuts: a z slab of ±50 Å
    assert str(viewer.layers["picks"].projection_mode) == "rescale_spherical"
    assert viewer.dims.margin_left[0] == viewer.dims.margin_right[0] == 50.0
    picks_layer = viewer.layers["picks"]                 # all three picks lie on z = 12
    for dz, disc in ((0, 10.0), (3, 8.0), (7, None)):    # the sphere's cut: 2 sqrt(5² - dz²)
        viewer.dims.set_point(0, (12 + dz) * 10.0)
        picks_layer.refresh()
        sizes = picks_layer._view_size                   # napari's own slicing (pinned in the lock)
        assert (len(sizes) == 0) if disc is None else np.allclose(sizes, disc)


def test_dataset_preview_draws_the_training_truth(tmp_path):
    from tomobench.dataset import write_preview
    from tomobench.groundtruth import PARTICLE_LOCATIONS, RECONSTRUCTION
    volume, picks = _scene()
    table = ClassTable.from_records([{"class_name": "pdb_1bxn", "label": 1, "radius_nm": 2.0},
                                     {"class_name": "ribosome", "label": 2, "radius_nm": 3.0}])
    assert write_preview(tmp_path, table, tmp_path / "none.png") is None          # no reconstruction
    write_volume(tmp_path / RECONSTRUCTION, volume, 10.0)
    write_particles(picks, tmp_path / PARTICLE_LOCATIONS, "shrec")
    path = write_preview(tmp_path, table, tmp_path / "preview.png")
    assert _coloured_pixels(path) > 100
