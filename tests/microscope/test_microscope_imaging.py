"""image_sample / write_imaging: contract, determinism, geometry schemes, bad input."""

import json
import warnings

import mrcfile
import numpy as np
import pytest
from microscope_testlib import gaussian_blob

from generator.imaging import ImagingParams, image_sample, write_imaging
from generator.microscope.geometry import acquisition_order, angular_weights, make_tilt_series, tilt_angles
from generator.microscope.params import AcquisitionParams
from tomobench.errors import InputError
from tomobench.params import validate


def _phantom(shape=(12, 32, 40)):
    return (gaussian_blob(shape, (6, 12, 25), 6.0) + gaussian_blob(shape, (4, 22, 10), 4.0)).astype(np.float32)


def _params(**over):
    p = ImagingParams(progress=False)
    p.acquisition.tilt_step_deg = 15.0
    for path, v in over.items():
        section, key = path.split("__")
        setattr(getattr(p, section), key, v)
    return p


def test_write_imaging_follows_the_contract(tmp_path):
    vol = _phantom()
    r = image_sample(vol, 10.0, _params(reconstruction__noise_free=True), np.random.default_rng(0))
    assert r.reconstruction.shape == vol.shape and r.reconstruction.dtype == np.float32
    assert r.projections.shape == (len(r.tilt_angles_deg), 32, 40) and r.projections.dtype == np.float32
    assert r.noise_free_reconstruction.shape == vol.shape
    write_imaging(r, tmp_path)
    for name in ("projections.mrc", "tilt_angles.txt", "reconstruction.mrc", "acquisition.json", "imaging.png",
                 "misalignment.txt", "noise_free_reconstruction.mrc"):
        assert (tmp_path / name).is_file(), name
    with mrcfile.open(tmp_path / "reconstruction.mrc") as m:
        assert m.data.shape == vol.shape and float(m.voxel_size.x) == pytest.approx(10.0)
    acq = json.loads((tmp_path / "acquisition.json").read_text())
    for key in ("voltage_kv", "cs_mm", "amplitude_contrast", "defocus_um", "tilt_angles_deg", "tilt_axis_deg",
                "voxel_size_a", "dose_total_e_per_a2", "snr", "phase_plate"):
        assert key in acq, key
    assert acq["tilt_angles_deg"] == pytest.approx(list(np.arange(-60, 61, 15)))
    assert np.loadtxt(tmp_path / "tilt_angles.txt") == pytest.approx(np.arange(-60, 61, 15))


def test_same_seed_same_outputs_different_seed_different():
    vol = _phantom()
    p = _params(acquisition__tilt_angle_error_deg=0.5, acquisition__shift_max_px=1.5,
                acquisition__shift_mean_px=1.0, detector__structural_noise_rel=0.2)
    a = image_sample(vol, 10.0, p, np.random.default_rng(42))
    b = image_sample(vol, 10.0, p, np.random.default_rng(42))
    c = image_sample(vol, 10.0, p, np.random.default_rng(43))
    assert np.array_equal(a.projections, b.projections)
    assert np.array_equal(a.reconstruction, b.reconstruction)
    assert np.array_equal(a.misalignment, b.misalignment)
    assert not np.array_equal(a.projections, c.projections)
    # the errors are recorded: true angles differ from nominal, shifts between the mean and the max
    assert not np.allclose(a.misalignment[:, 0], a.misalignment[:, 1])
    mag = np.hypot(a.misalignment[:, 5], a.misalignment[:, 6])
    assert mag.min() == pytest.approx(1.0, abs=0.1) and mag.max() == pytest.approx(1.5, abs=1e-6)


def test_multislice_and_fast_agree_for_a_weak_thin_object():
    vol = _phantom() * 0.05
    fast = image_sample(vol, 10.0, _params(detector__noise_mode="none"), np.random.default_rng(0)).projections
    ms = image_sample(vol, 10.0, _params(detector__noise_mode="none", projection__mode="multislice"),
                      np.random.default_rng(0)).projections
    assert np.corrcoef(fast.ravel() - fast.mean(), ms.ravel() - ms.mean())[0, 1] > 0.98


def test_reconstruction_is_positive_where_the_particles_are_and_phase_flip_keeps_it():
    vol = _phantom((16, 48, 48))
    for flip in ("none", "phase_flip"):
        p = _params(detector__noise_mode="none", reconstruction__ctf_correction=flip,
                    optics__defocus_um=5.0, acquisition__tilt_step_deg=3.0)
        rec = image_sample(vol, 10.0, p, np.random.default_rng(0)).reconstruction
        assert np.corrcoef(rec.ravel(), vol.ravel())[0, 1] > 0.5


def test_tilt_schemes_and_dose():
    angles = tilt_angles(-6, 6, 3)
    assert list(angles) == [-6, -3, 0, 3, 6]
    assert list(acquisition_order(angles, "sequential")) == [0, 1, 2, 3, 4]
    assert list(acquisition_order(angles, "bidirectional", 0.0)) == [4, 3, 0, 1, 2]
    seven = tilt_angles(-9, 9, 3)
    # Hagen: 0, +3, -3, -6, +6, +9, -9
    assert list(acquisition_order(seven, "dose_symmetric")) == [6, 3, 2, 0, 1, 4, 5]
    assert list(acquisition_order(seven, "bidirectional", 0.0)) == [6, 5, 4, 0, 1, 2, 3]
    ts = make_tilt_series(AcquisitionParams(tilt_min_deg=-6, tilt_max_deg=6, tilt_step_deg=3,
                                            dose_total_e_per_a2=100.0), np.random.default_rng(0))
    assert ts.dose_e_per_a2.sum() == pytest.approx(100.0)
    assert ts.accumulated_dose_e_per_a2[2] == 0.0 and ts.accumulated_dose_e_per_a2.max() == pytest.approx(80.0)
    assert angular_weights(tilt_angles(-90, 90, 2)).sum() == pytest.approx(np.pi)
    assert len(tilt_angles(-90, 90, 2)) == 90  # +90 repeats -90


@pytest.mark.parametrize("section,data", [
    ("acquisition", {"tilt_max_deg": 95.0}),
    ("acquisition", {"tilt_min_deg": -120.0}),
    ("acquisition", {"dose_total_e_per_a2": 0.0}),
    ("acquisition", {"dose_total_e_per_a2": -5.0}),
    ("acquisition", {"tilt_min_deg": 30.0, "tilt_max_deg": -30.0}),
    ("detector", {"snr": 0.0}),
    ("optics", {"amplitude_contrast": 1.5}),
])
def test_impossible_parameters_stop_early(section, data):
    with pytest.raises(InputError, match=section):
        validate(ImagingParams, {section: data}, source="params.yaml", section="imaging")


def test_bad_input_volumes_and_aliasing():
    with pytest.raises(InputError, match="3D"):
        image_sample(np.zeros((8, 8), np.float32), 10.0, _params(), np.random.default_rng(0))
    with pytest.raises(InputError, match="voxel_size_a"):
        image_sample(_phantom(), 0.0, _params(), np.random.default_rng(0))
    with pytest.raises(InputError, match="beyond ±90"):
        tilt_angles(-95, 60, 2)
    # 1 Å voxels, a 40 px image and 8 µm defocus: the CTF cannot be sampled
    with pytest.raises(InputError, match="aliases"):
        image_sample(_phantom(), 1.0, _params(optics__defocus_um=8.0), np.random.default_rng(0))
    # 40 Å voxels: the first CTF zero (24 Å at 3 µm) lies beyond Nyquist (80 Å)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image_sample(_phantom(), 40.0, _params(), np.random.default_rng(0))
    assert any("too coarse" in str(w.message) for w in caught)


def test_preset_files_validate_and_default_matches_the_model():
    from pathlib import Path

    from tomobench.params import load_section
    root = Path(__file__).resolve().parents[2] / "params"
    default = load_section(root / "imaging_default.yaml", "imaging", ImagingParams)
    assert default == ImagingParams()
    shrec = load_section(root / "imaging_shrec2020.yaml", "imaging", ImagingParams)
    assert len(tilt_angles(shrec.acquisition.tilt_min_deg, shrec.acquisition.tilt_max_deg,
                           shrec.acquisition.tilt_step_deg)) == 41  # PyTom's simulation.meta: -60..60 in 3°
    assert shrec.detector.noise_mode == "shrec2020" and shrec.detector.snr == 0.004
    assert shrec.optics.defocus_um == 3.0 and shrec.optics.ctf_decay_nyquist == 0.4
    assert shrec.projection.mode == "multislice" and shrec.projection.multislice_slice_nm == 5.0
    assert shrec.detector.structural_noise_rel == pytest.approx(0.04 / 0.15, abs=1e-3)
