"""The subtomogram task's imaging: the paper's per-image SNR, direct Fourier inversion, CTF x MTF."""

import hashlib

import numpy as np
import pytest
import yaml

from baselines.classifier.params import SubtomoTaskParams
from baselines.classifier.subtomo_task import (
    Imaging,
    dfi_geometry,
    dfi_noise,
    optics_transfer,
    simulate_subtomograms,
    tilt_angles_deg,
    volume_snr_of_projection_snr,
    wedge_mask,
)
from baselines.synthetic import shape_template
from baselines.template_matching.templates import ctf_1d
from tomobench.cli import main
from tomobench.errors import InputError

PROJECTION = Imaging(snr_definition="projection")


def test_tilt_angles_are_symmetric_steps():
    a = tilt_angles_deg(60, 2)
    assert len(a) == 61 and a[0] == -60 and a[-1] == 60 and np.allclose(np.diff(a), 2)
    b = tilt_angles_deg(50, 3)                      # 100 / 3 -> 34 tilts, centred on 0
    assert len(b) == 34 and b[0] == pytest.approx(-49.5) and b[-1] == pytest.approx(49.5)
    assert tilt_angles_deg(0, 2).tolist() == [0.0]
    with pytest.raises(ValueError):
        tilt_angles_deg(60, 0)
    with pytest.raises(ValueError):
        tilt_angles_deg(95, 2)


def test_dfi_geometry_puts_each_image_on_its_central_plane():
    g = dfi_geometry(8, np.array([0.0, 90.0]))
    assert g.counts.sum() == 2 * 64                 # every image sample lands on one voxel
    assert g.counts[0].sum() == 64 + 8              # tilt 0: the k_z = 0 plane; tilt 90: its k_x = 0 line
    assert g.mask[0].all() and g.mask[:, :, 0].all()
    assert not g.mask[3, 0, 3]                      # off both planes
    assert g.counts[0, 5, 0] == 2                   # the tilt axis (k_y) is in every image
    # a ±60° series samples (up to rounding) only inside the missing-wedge mask, never k along the beam
    g60 = dfi_geometry(16, tilt_angles_deg(60, 2))
    assert not g60.mask[5, 0, 0]
    assert np.mean(g60.mask & ~wedge_mask(16, 60)) < 0.04   # nearest-neighbour rounding at the edge


def test_dfi_noise_of_one_tilt_is_the_image_spread_along_the_beam(rng):
    img = rng.normal(size=(1, 8, 8))
    vol = dfi_noise(dfi_geometry(8, np.array([0.0])), img)
    # the k_z = 0 plane alone: the image / n, constant along z (inverse of the projection sum_z)
    assert np.allclose(vol, np.broadcast_to(img[0] / 8, (8, 8, 8)), atol=1e-6)
    two = rng.normal(size=(2, 8, 8))                # two images on the same plane are averaged
    vol2 = dfi_noise(dfi_geometry(8, np.array([0.0, 0.0])), two)
    assert np.allclose(vol2, np.broadcast_to(two.mean(0) / 8, (8, 8, 8)), atol=1e-6)


def test_projection_snr_is_the_variance_ratio_on_the_tilt_images():
    """One tilt: the box is the image / n spread along z, so var ratios in the box = those of the images."""
    n, snr = 16, 0.25
    ball = shape_template("sphere", n, 4)
    x, y, names = simulate_subtomograms({"ball": ball}, 150, snr, 0, n, np.random.default_rng(1),
                                        max_shift_vox=0, imaging=PROJECTION)
    clean, _, _ = simulate_subtomograms({"ball": ball}, 150, 1e12, 0, n, np.random.default_rng(1),
                                        max_shift_vox=0, imaging=PROJECTION)
    assert names == ["ball", "empty"]
    noise_var_image = x[y == 1].var(axis=(1, 2, 3)).mean() * n ** 2   # empty boxes hold only noise / n
    image_var = clean[y == 0].var(axis=(1, 2, 3)).mean() * n ** 2    # the noise-free images, likewise
    assert image_var / noise_var_image == pytest.approx(snr, rel=0.04)
    # the images are those of the ball (order-1 rotation blurs it a little: within 15 %)
    assert image_var == pytest.approx(ball.sum(axis=0).var(), rel=0.15)
    # and the noise is white in the image: its pixels are uncorrelated
    img = x[y == 1][:, 0] * n
    assert abs(np.mean(img[:, :, 1:] * img[:, :, :-1])) < 0.03 * np.mean(img ** 2)


def test_projection_snr_with_one_tilt_is_the_subtomogram_snr():
    r = volume_snr_of_projection_snr({"ball": shape_template("sphere", 16, 4)}, 0.5, 0, 16,
                                     np.random.default_rng(2), n_per_class=60)
    assert r["volume_snr"] == pytest.approx(0.5, rel=0.05)
    # a 61-image series changes it (measured in docs/learned.md); the function reports the same units
    r61 = volume_snr_of_projection_snr({"ball": shape_template("sphere", 16, 4)}, 0.5, 60, 16,
                                       np.random.default_rng(2), n_per_class=10)
    assert r61["signal_var"] > 0 and r61["noise_var"] > 0 and r61["volume_snr"] != pytest.approx(0.5, rel=0.05)


def test_projection_boxes_hold_nothing_outside_the_sampled_voxels(rng):
    x, _, _ = simulate_subtomograms({"rod": shape_template("rod", 16, 5)}, 3, 0.3, 60, 16, rng,
                                    imaging=PROJECTION)
    ft = np.fft.fftn(x[0])
    assert np.abs(ft[~dfi_geometry(16, tilt_angles_deg(60, 2)).mask]).max() < 1e-3 * np.abs(ft).max()


def test_optics_transfer_hand_computed():
    im = Imaging(optics="ctf_mtf", voxel_size_a=10.0, amplitude_contrast=0.07)
    t = optics_transfer(16, im)
    assert t[0, 0, 0] == pytest.approx(-0.07)       # CTF(0) = -A, MTF(0) = 1
    nyq = ctf_1d(np.array(0.05), defocus_um=5.0, voltage_kv=300.0, cs_mm=2.0, amplitude_contrast=0.07)
    assert t[0, 0, 8] == pytest.approx(float(nyq) * 2 / np.pi)   # MTF sinc(pi / 2) = 2 / pi at Nyquist
    assert np.allclose(t, t[::-1][np.r_[-1, :15]])  # radial: symmetric under k -> -k


def test_same_seed_same_bytes_with_the_papers_imaging():
    def once():
        tpl = {"ball": shape_template("sphere", 12, 3), "rod": shape_template("rod", 12, 5)}
        im = Imaging(snr_definition="projection", optics="ctf_mtf", tilt_step_deg=3.0)
        x, y, _ = simulate_subtomograms(tpl, 4, 0.1, 50, 12, np.random.default_rng(9), imaging=im)
        return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    assert once() == once()


def test_bad_imaging_parameters_stop_early(tmp_path):
    with pytest.raises(ValueError):
        Imaging(snr_definition="image")
    with pytest.raises(ValueError):
        Imaging(tilt_step_deg=0)
    with pytest.raises(ValueError):
        Imaging(noise_level="image")
    with pytest.raises(ValueError):
        SubtomoTaskParams(noise_level="tomogram")
    with pytest.raises(ValueError):
        SubtomoTaskParams(snr_definition="image")
    with pytest.raises(ValueError):
        SubtomoTaskParams(tilt_step_deg=-1)
    with pytest.raises(ValueError):
        simulate_subtomograms({"b": shape_template("sphere", 8, 2)}, 0, 1.0, 60, 8, np.random.default_rng(0))
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"cnn_subtomo": {"snr_definition": "micrograph"}}}))
    from baselines.classifier.params import SubtomoTaskParams as Model
    from baselines.params_io import load_method_params
    with pytest.raises(InputError, match="snr_definition"):
        load_method_params(Model, "cnn_subtomo", str(params), {})


def test_cli_runs_the_papers_imaging(tmp_path):
    from baselines.synthetic import write_fake_public
    public = write_fake_public(tmp_path / "public", np.random.default_rng(0), n_train=1, n_test=1,
                               shape_zyx=(16, 24, 24), n_per_class=2, box=12)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {
        "cnn": {"width": 2, "hidden": 4, "epochs": 1},
        "cnn_subtomo": {"box_vox": 12, "snrs": [0.1], "tilt_max_deg": [60], "n_per_class": 4,
                        "snr_definition": "projection", "optics": "ctf_mtf", "voxel_size_a": 12.0}}}))
    import json
    out = tmp_path / "task.json"
    assert main(["baseline", "cnn", "--task", "subtomo", "--data", str(public), "--out", str(out),
                 "--params", str(params), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["params"]["snr_definition"] == "projection" and result["voxel_size_a"] == 12.0
    assert np.sum(result["cells"][0]["confusion"]["counts"]) == result["cells"][0]["n_test"]


@pytest.mark.parametrize("definition", ["volume", "projection"])
def test_particle_noise_level_gives_every_class_its_own_snr(definition):
    """noise_level particle: small and large particles at the same SNR; dataset: one level for all."""
    n, snr = 16, 0.5
    tpl = {"small": shape_template("sphere", n, 2), "large": shape_template("sphere", n, 5)}
    tilt = 0 if definition == "projection" else 60   # one tilt: box variances = image variances / n^2
    ratios = {}
    for level in ["dataset", "particle"]:
        im = Imaging(snr_definition=definition, noise_level=level)
        noisy, y, names = simulate_subtomograms(tpl, 60, snr, tilt, n, np.random.default_rng(4), max_shift_vox=0,
                                                imaging=im)
        clean, _, _ = simulate_subtomograms(tpl, 60, 1e12, tilt, n, np.random.default_rng(4), max_shift_vox=0,
                                            imaging=im)
        noise = (noisy - clean).var(axis=(1, 2, 3))
        signal = clean.var(axis=(1, 2, 3))
        ratios[level] = [signal[y == c].mean() / noise[y == c].mean() for c in range(2)]
        empty = noise[y == 2].mean()
        assert empty == pytest.approx(signal[y < 2].mean() / snr, rel=0.1)   # the dataset's level
    assert ratios["particle"] == pytest.approx([snr, snr], rel=0.1)
    small, large = ratios["dataset"]
    assert small < 0.5 * snr < 1.5 * snr < large


def test_learning_curve_observes_without_changing_the_training():
    """curve_every_epochs: the test half is scored on the way, the final model is the same bytes."""
    from baselines.classifier.params import CNNParams
    from baselines.classifier.subtomo_task import run_cell
    tpl = {"ball": shape_template("sphere", 12, 3), "rod": shape_template("rod", 12, 5)}
    cnn = CNNParams(width=2, hidden=4, epochs=4, batch_size=4)

    def cell(every: int) -> dict:
        from baselines.torch_common import seed_everything
        seed_everything(0)  # the network's initial weights
        task = SubtomoTaskParams(box_vox=12, n_per_class=8, curve_every_epochs=every)
        return run_cell(tpl, 1.0, 60, task, cnn, np.random.default_rng(3))
    plain, curved = cell(0), cell(2)
    assert plain["accuracy_by_epoch"] == {}
    assert list(curved["accuracy_by_epoch"]) == ["2", "4"]
    assert curved["accuracy_by_epoch"]["4"] == curved["accuracy"] == plain["accuracy"]
    assert curved["confusion"] == plain["confusion"] and curved["kmeans_purity"] == plain["kmeans_purity"]
