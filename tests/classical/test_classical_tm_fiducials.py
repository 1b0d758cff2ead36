"""Gold-bead erasure before template matching: the mask, the noise fill and the training-split threshold."""

import numpy as np
import pytest
from pydantic import ValidationError

from baselines.template_matching.cli import TMParams, fiducial_threshold
from baselines.template_matching.fiducials import (
    contrast_at,
    erase_fiducials,
    fiducial_mask,
    separating_threshold,
)


def _ball(shape, centre, radius):
    zz, yy, xx = np.indices(shape)
    return (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= radius ** 2


def _scene(sign: float = 1.0, seed: int = 0):
    """Unit noise with three faint 'particles' (amplitude 1.5, radius 3) and two dense 'beads' (8, radius 2)."""
    rng = np.random.default_rng(seed)
    shape = (48, 48, 48)
    volume = rng.normal(0.0, 1.0, shape).astype(np.float32)
    particles = [(12, 12, 12), (12, 36, 30), (36, 14, 34)]
    beads = [(34, 34, 12), (20, 30, 40)]
    for c in particles:
        volume[_ball(shape, c, 3)] += sign * 1.5
    for c in beads:
        volume[_ball(shape, c, 2)] += sign * 8.0
    return volume, np.array(particles), np.array(beads)


def test_the_mask_of_one_spike_is_the_l1_ball_of_the_dilation():
    volume = np.random.default_rng(1).normal(size=(21, 21, 21)).astype(np.float32)
    volume[10, 10, 10] = 100.0
    mask, n = fiducial_mask(volume, 1.0, z_threshold=8.0, sigma_vox=0.0, dilate_vox=2)
    zz, yy, xx = np.indices(volume.shape)
    l1 = np.abs(zz - 10) + np.abs(yy - 10) + np.abs(xx - 10)
    assert n == 1
    assert mask.sum() == 25                      # 1 + 6 + 18: the 6-connected ball of radius 2
    assert np.array_equal(mask, l1 <= 2)


def test_beads_are_erased_and_particles_kept():
    volume, particles, beads = _scene()
    threshold = separating_threshold(contrast_at(volume, 1.0, particles), contrast_at(volume, 1.0, beads))
    assert threshold is not None
    erased = erase_fiducials(volume, 1.0, z_threshold=threshold, dilate_vox=3, seed=5)
    assert erased.n_blobs == 2
    assert all(erased.mask[tuple(b)] for b in beads)
    assert not any(erased.mask[tuple(p)] for p in particles)
    assert not any(erased.mask[_ball(volume.shape, p, 3)].any() for p in particles)
    outside = ~erased.mask
    assert np.array_equal(erased.volume[outside], volume[outside])          # untouched elsewhere, bit for bit
    fill = erased.volume[erased.mask]
    background = volume[outside]
    assert abs(fill.mean() - np.median(background)) < 0.15                   # noise of the background's level
    assert abs(fill.std() - 1.0) < 0.15                                      # and of its spread (unit noise)
    again = erase_fiducials(volume, 1.0, z_threshold=threshold, dilate_vox=3, seed=5)
    other = erase_fiducials(volume, 1.0, z_threshold=threshold, dilate_vox=3, seed=6)
    assert again.volume.tobytes() == erased.volume.tobytes()
    assert other.volume.tobytes() != erased.volume.tobytes()


def test_the_density_sign_decides_which_blobs_are_beads():
    volume, particles, beads = _scene(sign=-1.0)
    threshold = separating_threshold(contrast_at(volume, -1.0, particles), contrast_at(volume, -1.0, beads))
    assert threshold is not None
    dark = erase_fiducials(volume, -1.0, z_threshold=threshold)
    bright = erase_fiducials(volume, 1.0, z_threshold=threshold)
    assert dark.n_blobs == 2 and all(dark.mask[tuple(b)] for b in beads)
    assert bright.n_blobs == 0 and not bright.mask.any()
    assert bright.volume.tobytes() == volume.tobytes()


def test_separating_threshold_is_halfway_or_none():
    assert separating_threshold(np.array([1.0, 2.0, 5.0]), np.array([12.0, 9.0])) == 7.0
    assert separating_threshold(np.array([1.0, 10.0]), np.array([9.0])) is None      # overlap: erase nothing
    assert separating_threshold(np.array([1.0, 9.0]), np.array([9.0])) is None       # touching: still nothing
    assert separating_threshold(np.array([]), np.array([9.0])) is None
    assert separating_threshold(np.array([1.0]), np.array([])) is None


def test_contrast_is_the_window_maximum_in_robust_units():
    volume = np.random.default_rng(2).normal(size=(30, 30, 30)).astype(np.float32)
    volume[15, 15, 17] = 50.0                    # 2 voxels off the queried point: inside the 5^3 window
    inside = contrast_at(volume, 1.0, np.array([[15, 15, 15]]), sigma_vox=0.0, half_vox=2)[0]
    outside = contrast_at(volume, 1.0, np.array([[15, 15, 15]]), sigma_vox=0.0, half_vox=1)[0]
    med = np.median(volume)
    scale = 1.4826 * np.median(np.abs(volume - med))
    assert inside == pytest.approx((50.0 - med) / scale, rel=1e-5)
    assert outside < 6.0


def test_threshold_from_params_and_bad_values():
    assert fiducial_threshold([], None, 1.0, TMParams(erase_fiducials=False)) is None
    assert fiducial_threshold([], None, 1.0, TMParams(fiducial_z=6.5)) == 6.5
    with pytest.raises(ValidationError):
        TMParams(fiducial_z=0.0)
    with pytest.raises(ValidationError):
        TMParams(fiducial_dilate_vox=-1)
    with pytest.raises(ValueError):
        fiducial_mask(np.zeros((4, 4, 4)), 1.0, z_threshold=-1.0)
