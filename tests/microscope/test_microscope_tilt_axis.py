"""Tilt-axis angle: projections in the detector frame, the reconstruction back in the specimen frame."""

import math

import numpy as np
import pytest
import torch
from microscope_testlib import gaussian_blob

from generator.imaging import ImagingParams, image_sample
from generator.microscope.detector_frame import detector_shape, to_detector, to_specimen


def test_detector_shape_is_the_bounding_box_of_the_rotated_field():
    assert detector_shape((32, 40), 0.0) == (32, 40)
    assert detector_shape((32, 40), 90.0) == (40, 32)
    assert detector_shape((32, 40), -180.0) == (32, 40)
    side = math.ceil(72 * math.cos(math.radians(45)))  # 32 cos 45 + 40 sin 45
    assert detector_shape((32, 40), 45.0) == (side, side)


@pytest.mark.parametrize("angle, expected_dyx", [(90.0, (3, 0)), (180.0, (0, -3)), (-90.0, (-3, 0))])
def test_a_point_on_the_specimen_x_axis_turns_counter_clockwise(angle, expected_dyx):
    img = np.zeros((1, 21, 27), np.float32)
    img[0, 10, 13 + 3] = 1.0  # specimen (x, y) = (+3, 0) from the centre pixel (10, 13)
    out = to_detector(torch.from_numpy(img), angle)[0].numpy()
    cy, cx = out.shape[0] // 2, out.shape[1] // 2
    py, px = np.unravel_index(np.argmax(out), out.shape)
    # (x, y) -> (x cos a - y sin a, x sin a + y cos a): +3 along x goes to (3 cos a, 3 sin a)
    assert (py - cy, px - cx) == expected_dyx
    assert out.max() == pytest.approx(1.0, abs=1e-5)


def test_detector_and_back_recovers_a_smooth_image():
    y, x = np.mgrid[:40, :48].astype(np.float32)
    img = (np.exp(-((y - 14) ** 2 + (x - 30) ** 2) / 18.0) - 0.5 * np.exp(-((y - 27) ** 2 + (x - 12) ** 2) / 30.0))
    t = torch.from_numpy(img[None].astype(np.float32))
    det = to_detector(t, 35.0)
    assert tuple(det.shape[-2:]) == detector_shape((40, 48), 35.0)
    back = to_specimen(det, 35.0, (40, 48))[0].numpy()
    assert np.corrcoef(back.ravel(), img.ravel())[0, 1] > 0.99
    assert np.abs(back - img).max() < 0.05


def test_zero_angle_is_the_identity():
    t = torch.randn(2, 8, 9)
    assert to_detector(t, 0.0) is t and to_specimen(t, 0.0, (8, 9)) is t


def _noise_free(axis_deg: float, volume: np.ndarray):
    p = ImagingParams(progress=False)
    p.acquisition.tilt_step_deg = 15.0
    p.acquisition.tilt_axis_deg = axis_deg
    p.detector.noise_mode = "none"
    p.detector.detector = "ideal"
    p.detector.inelastic_mfp_nm = 0.0
    p.detector.damage_model = "none"
    p.optics.phase_plate = True  # contrast without CTF rings: the blob images as a blob
    p.optics.defocus_um = 0.0
    return image_sample(volume, 10.0, p, np.random.default_rng(0))


def _blob(shape, centre_zyx, sigma2=3.0):
    return gaussian_blob(shape, centre_zyx, sigma2).astype(np.float32)


def _centroid_yx(img: np.ndarray) -> np.ndarray:
    w = np.abs(img - np.median(img))
    w = np.where(w > 0.2 * w.max(), w, 0.0)
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    return np.array([(w * yy).sum(), (w * xx).sum()]) / w.sum()


def test_parallax_of_a_high_particle_runs_across_the_tilt_axis_on_the_detector():
    # a blob 8 voxels above the centre: tilting by ±45° moves it by 8 sin 45° along the specimen x axis,
    # which the detector sees along (cos a, sin a); the tilt axis itself is (-sin a, cos a)
    shape = (24, 40, 40)
    vol = _blob(shape, (12 + 8, 20, 20))
    axis = 35.0
    r = _noise_free(axis, vol)
    angles = list(r.tilt_angles_deg)
    plus, minus = r.projections[angles.index(45.0)], r.projections[angles.index(-45.0)]
    dy, dx = _centroid_yx(plus) - _centroid_yx(minus)
    a = math.radians(axis)
    expected = 2 * 8 * math.sin(math.radians(45.0))
    assert dx == pytest.approx(expected * math.cos(a), abs=0.6)
    assert dy == pytest.approx(expected * math.sin(a), abs=0.6)
    assert r.projections.shape[1:] == detector_shape(shape[1:], axis)


def test_reconstruction_lies_on_the_ground_truth_grid_whatever_the_axis():
    shape = (16, 40, 44)
    vol = _blob(shape, (8, 12, 30)) + _blob(shape, (10, 28, 12), 5.0)
    straight = _noise_free(0.0, vol).reconstruction
    turned = _noise_free(35.0, vol).reconstruction
    assert turned.shape == vol.shape
    assert np.corrcoef(turned.ravel(), straight.ravel())[0, 1] > 0.95
    assert np.unravel_index(np.argmax(turned), shape) == np.unravel_index(np.argmax(straight), shape)


def test_footprint_marks_the_pixels_that_see_the_specimen():
    from generator.microscope.detector_frame import specimen_footprint

    assert bool(specimen_footprint((32, 40), 0.0).all())
    quarter = specimen_footprint((32, 40), 90.0)
    assert tuple(quarter.shape) == (40, 32) and bool(quarter.all())
    oblique = specimen_footprint((32, 40), 45.0)
    h, w = oblique.shape
    assert not oblique[0, 0] and not oblique[-1, -1] and oblique[h // 2, w // 2]
    # the turned field keeps its area: pixel centres span 31 x 39
    assert int(oblique.sum()) == pytest.approx(31 * 39, rel=0.04)


def test_target_snr_is_met_on_the_specimen_not_on_the_empty_corners():
    from generator.microscope.detector import measured_snr

    shape = (16, 40, 44)
    vol = _blob(shape, (8, 12, 30)) + _blob(shape, (10, 28, 12), 5.0) + _blob(shape, (6, 20, 20), 4.0)
    p = ImagingParams(progress=False)
    p.acquisition.tilt_step_deg = 15.0
    p.acquisition.tilt_axis_deg = 40.0
    p.detector.snr = 0.5
    r = image_sample(vol, 10.0, p, np.random.default_rng(3))
    from generator.microscope.detector_frame import specimen_footprint

    mask = specimen_footprint(shape[1:], 40.0).numpy()
    on_specimen = measured_snr(r.noise_free_projections, r.projections, mask)
    everywhere = measured_snr(r.noise_free_projections, r.projections)
    assert on_specimen == pytest.approx(0.5, rel=0.2)
    assert everywhere < 0.8 * on_specimen  # the corners hold noise and no signal
