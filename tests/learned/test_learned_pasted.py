"""Template boxes pasted in place of real particles: the measured transfer, the removal, the boxes."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import ndimage

from baselines.classifier.extract import extract_subtomograms
from baselines.pasted import (
    box_transfer,
    own_particle_removed,
    particle_model,
    particles_removed,
    pasted_boxes,
    pasted_training_set,
    radial_transfer,
    reposed_tomogram,
    transfer_on_grid,
)
from baselines.public_data import public_templates
from baselines.synthetic import shape_template, write_fake_public
from baselines.training_data import PublicDataset
from tomobench.cli import main
from tomobench.euler import euler_to_matrix
from tomobench.rotate import rotate_volume

WEDGE = dict(tilt_min_deg=-60.0, tilt_max_deg=60.0, tilt_axis_deg=0.0)


def _particles(rows):
    return pd.DataFrame(rows, columns=["class", "x", "y", "z", "phi", "theta", "psi"])


def test_particle_model_places_turned_templates_and_clips_at_the_border():
    rod = shape_template("rod", 9, 3)
    model = particle_model((20, 24, 24), _particles([("rod", 10, 12, 8, 90, 0, 0), ("rod", 0, 0, 0, 0, 0, 0),
                                                     ("unknown", 5, 5, 5, 0, 0, 0)]), {"rod": rod})
    turned = rotate_volume(rod, euler_to_matrix(90, 0, 0), order=1)
    # the first particle: its turned template with the centre voxel (4) at z 8, y 12, x 10
    assert np.allclose(model[4:13, 8:17, 6:15], turned)
    # the second, centred on the corner voxel: only its octant z, y, x >= 4 is inside
    assert np.allclose(model[:5, :5, :5], rod[4:, 4:, 4:])
    assert model.sum() == pytest.approx(turned.sum() + rod[4:, 4:, 4:].sum(), rel=1e-5)


def test_radial_transfer_recovers_a_known_filter_and_ignores_unrelated_matter(rng):
    shape = (32, 48, 48)
    model = rng.normal(size=shape).astype(np.float32)
    shells = np.linspace(0.8, -0.3, 32)                  # a sign change, as past a CTF zero
    grid = transfer_on_grid(shape, shells, **WEDGE)
    volume = np.fft.irfftn(np.fft.rfftn(model - model.mean()) * grid, s=shape)
    # on this grid the first shell (< 1/64 cycles/voxel) holds only the zero frequency: no estimate
    measured = radial_transfer([volume], [model], **WEDGE)
    assert measured[0] == 0.0 and np.allclose(measured[1:], shells[1:], atol=0.02)
    other = rng.normal(size=shape)                        # membranes, ice: not the model
    noisy = radial_transfer([volume + 0.3 * other], [model], **WEDGE)[4:]   # shells of a few voxels vary more
    assert np.allclose(noisy, shells[4:], atol=0.1) and not np.allclose(noisy, shells[4:], atol=1e-3)
    assert np.allclose(radial_transfer([volume], [np.zeros(shape, np.float32)], **WEDGE), 0.0)


def test_particles_removed_leaves_what_is_not_the_particles(rng):
    shape = (24, 32, 32)
    model = particle_model(shape, _particles([("ball", 16, 16, 12, 0, 0, 0)]),
                           {"ball": shape_template("sphere", 11, 4)})
    shells = np.full(32, 0.5)
    rest = rng.normal(size=shape).astype(np.float32)
    imaged = np.fft.irfftn(np.fft.rfftn(model - model.mean()) * transfer_on_grid(shape, shells, **WEDGE), s=shape)
    assert np.allclose(particles_removed(imaged + rest, model, shells, **WEDGE), rest, atol=1e-4)


def test_own_particle_removed_leaves_the_neighbour_and_the_background(rng):
    rod = shape_template("rod", 9, 3)
    shape = (20, 24, 40)
    particles = _particles([("rod", 10, 12, 10, 30, 60, 90), ("rod", 18, 12, 10, 0, 0, 0)])
    background = rng.normal(size=shape).astype(np.float32)
    volume = background + particle_model(shape, particles, {"rod": rod})
    everything = box_transfer(24, np.ones(32), tilt_min_deg=-90.0, tilt_max_deg=90.0)   # transfer 1
    boxes = own_particle_removed(volume, particles.iloc[:1], {"rod": rod}, everything, 12)
    neighbour = particle_model(shape, particles.iloc[1:], {"rod": rod})
    expected = extract_subtomograms(background + neighbour, np.array([[10.0, 12.0, 10.0]]), 12)
    assert np.allclose(boxes, expected, atol=1e-4)
    assert np.abs(extract_subtomograms(neighbour, np.array([[10.0, 12.0, 10.0]]), 12)).max() > 0.5   # it is there


def test_pasted_boxes_hold_the_turned_template_on_the_background(rng):
    ball, rod = shape_template("sphere", 9, 3), shape_template("rod", 9, 3)
    full = np.ones(32)                                     # transfer 1 and no wedge: the template itself
    everything = box_transfer(24, full, tilt_min_deg=-90.0, tilt_max_deg=90.0)
    assert everything.min() == 1.0
    zeros = np.zeros((3, 12, 12, 12), np.float32)
    x, y = pasted_boxes({1: ball, 2: rod}, everything, zeros, 5, {}, np.random.default_rng(4))
    assert x.shape == (10, 12, 12, 12) and list(y) == [1] * 5 + [2] * 5
    assert np.allclose(x[:5].sum(axis=(1, 2, 3)), ball.sum(), rtol=0.03)   # order-1 rotation of a ball
    com = [np.average(np.indices(x[i].shape).reshape(3, -1), axis=1, weights=np.clip(x[i], 0, None).ravel())
           for i in range(10)]
    assert np.allclose(com, 6.0, atol=0.3)                 # centred on voxel box // 2
    again, _ = pasted_boxes({1: ball, 2: rod}, everything, zeros, 5, {}, np.random.default_rng(4))
    assert np.array_equal(x, again)
    # a background of ones under a shift: the ball moves, the background stays
    ones = np.ones((1, 12, 12, 12), np.float32)
    moved, _ = pasted_boxes({1: ball}, everything, ones, 1, {1: 2.0}, np.random.default_rng(5))
    assert moved.sum() == pytest.approx(ones.sum() + ball.sum(), rel=0.03)
    assert np.abs(moved - 1.0).max() > 0.5


def test_pasted_training_set_on_a_planted_tomogram(tmp_path):
    public = write_fake_public(tmp_path / "public", np.random.default_rng(1), n_train=1, n_test=0,
                               shape_zyx=(24, 40, 40), n_per_class=3, box=12, noise_sigma=0.1)
    data = PublicDataset(public)
    tomo = data.load_train(data.train_folders()[0])
    templates, _ = public_templates(public, data.target_names[1:])
    target_of = {n: i for i, n in enumerate(data.target_names) if i and n in templates}
    x, y, transfer = pasted_training_set([tomo.volume], [tomo.particles], templates, target_of, box=12,
                                         n_per_class=4, max_shift_vox={}, rng=np.random.default_rng(0),
                                         tilt_min_deg=-90.0, tilt_max_deg=90.0, tilt_axis_deg=0.0)
    assert x.shape == (4 * len(target_of), 12, 12, 12) and set(y) == set(target_of.values())
    # the planted tomogram is its templates plus white noise: the low shells carry the units' factor
    assert transfer[1:8].min() > 0    # (the first shell holds only the zero frequency on this grid)


def _with_acquisition(public, tmp_path):
    copy = shutil.copytree(public, tmp_path / "public")
    for folder in (copy / "train").iterdir():
        (folder / "acquisition.json").write_text(json.dumps(
            {"voltage_kv": 300.0, "cs_mm": 2.7, "amplitude_contrast": 0.08, "defocus_um": 3.0, "voxel_size_a": 10.0,
             "tilt_angles_deg": list(np.arange(-60.0, 61.0, 3.0))}))
    return copy


def test_cnn_cli_trains_with_pasted_boxes(tmp_path):
    public = write_fake_public(tmp_path / "ds" / "public", np.random.default_rng(0), n_train=2, n_test=1,
                               shape_zyx=(16, 32, 32), n_per_class=4, box=12)
    params = tmp_path / "params.yaml"
    cnn = {"box_vox": 12, "width": 4, "hidden": 8, "epochs": 1, "min_probability": 0.0}
    base = ["baseline", "cnn", "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet", "--params", str(params)]
    params.write_text(yaml.safe_dump({"baselines": {"cnn": cnn | {"pasted_per_class": 3}}}))
    # without acquisition.json the tilt range is unknown: a clear error naming the file
    assert main(base + ["--data", str(public), "--out", str(tmp_path / "x.csv")]) == 2
    ready = _with_acquisition(public, tmp_path)
    assert main(base + ["--data", str(ready), "--out", str(tmp_path / "p.csv")]) == 0
    params.write_text(yaml.safe_dump({"baselines": {"cnn": cnn}}))
    assert main(base + ["--data", str(ready), "--out", str(tmp_path / "n.csv")]) == 0
    with_pasted = json.loads((tmp_path / "p.timing.json").read_text())["n_train_subtomograms"]
    without = json.loads((tmp_path / "n.timing.json").read_text())["n_train_subtomograms"]
    n_templates = len(list((ready / "structures").glob("*.mrc")))
    assert with_pasted - without == 3 * n_templates


def test_reposed_tomogram_turns_each_particle_in_place_and_redraws_its_target():
    rod = ndimage.gaussian_filter(shape_template("rod", 13, 4), 1.0)   # smooth, as densities are
    shape = (24, 32, 32)
    particles = _particles([("rod", 16, 16, 12, 0, 0, 0)]).assign(target=3)
    target = np.zeros(shape, np.uint8)
    target[particle_model(shape, particles, {"rod": rod}) >= 0.1 * rod.max()] = 3   # the simulator's mask rule
    target[0, 0, :4] = 9                                   # an unscored label (a membrane): kept
    residual = np.zeros(shape, np.float32)
    everything = dict(tilt_min_deg=-90.0, tilt_max_deg=90.0)   # transfer 1, nothing missing
    volume, new_target = reposed_tomogram(residual, target, particles, {"rod": rod}, np.ones(32),
                                          np.random.default_rng(2), **everything)
    again = reposed_tomogram(residual, target, particles, {"rod": rod}, np.ones(32), np.random.default_rng(2),
                             **everything)
    assert np.array_equal(volume, again[0]) and np.array_equal(new_target, again[1])
    assert list(new_target[0, 0, :4]) == [9] * 4
    # the rod now points elsewhere: its target voxels moved, their number about the same
    voxels = new_target == 3
    assert abs(int(voxels.sum()) - int((target == 3).sum())) <= 0.1 * (target == 3).sum()
    assert (voxels & (target == 3)).sum() < 0.9 * voxels.sum()
    # the volume is the turned rod (mean removed, as the transfer filter drops the zero frequency)
    assert volume[voxels].mean() > volume[~voxels].mean() + 0.3 * rod.max()
    assert volume.sum() == pytest.approx(0.0, abs=1e-3)


def test_unet_cli_trains_with_reposed_copies(tmp_path):
    public = write_fake_public(tmp_path / "ds" / "public", np.random.default_rng(0), n_train=2, n_test=1,
                               shape_zyx=(16, 32, 32), n_per_class=4, box=12)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"unet": {
        "widths": [4, 8], "patch_vox": 16, "batch_size": 2, "steps": 2, "val_every": 2, "val_patches": 2,
        "infer_patch_vox": 16, "infer_overlap_vox": 4, "final_fit_steps": 0, "warmup_steps": 1,
        "peak_min_prob": 0.0, "reposed_copies": 2}}}))
    base = ["baseline", "unet", "--checkpoint-dir", str(tmp_path / "ckpt"), "--quiet", "--params", str(params)]
    assert main(base + ["--data", str(public), "--out", str(tmp_path / "x.csv")]) == 2   # no acquisition.json
    ready = _with_acquisition(public, tmp_path)
    assert main(base + ["--data", str(ready), "--out", str(tmp_path / "u.csv")]) == 0
    timing = json.loads((tmp_path / "u.timing.json").read_text())
    assert timing["fit_volumes"] == 3     # one fitted tomogram (the other is held out) and its two copies


def test_reposed_copies_need_mask_targets():
    from baselines.unet.params import UNetParams
    assert UNetParams(reposed_copies=1).reposed_copies == 1
    with pytest.raises(ValueError, match="target_kind: mask"):
        UNetParams(reposed_copies=1, target_kind="sphere")
    with pytest.raises(ValueError):
        UNetParams(reposed_copies=-1)
