"""Per-class peak picking and threshold tuning on hand-made probability maps and truths."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from baselines.unet.peaks import Peaks, Truth, cube_max, evaluate, find_peaks, hit_ids, nms_half_width, tune_thresholds


def blob(shape, centre_zyx, sigma, height):
    z, y, x = np.indices(shape)
    d2 = sum((a - c) ** 2 for a, c in zip((z, y, x), centre_zyx))
    return height * np.exp(-d2 / (2 * sigma ** 2))


def maps_with_planted_peaks():
    """3 maps (background + classes 1, 2) of 20 x 24 x 28 with blobs planted at known voxels."""
    shape = (20, 24, 28)
    probs = np.zeros((3,) + shape, np.float32)
    probs[1] += blob(shape, (5, 6, 7), 1.5, 0.9) + blob(shape, (14, 6, 20), 1.5, 0.6)
    probs[2] += blob(shape, (10, 18, 10), 2.5, 0.8)
    probs[1] += blob(shape, (10, 18, 10), 2.5, 0.3)   # a weaker class-1 echo on the class-2 particle
    probs[0] = 1 - probs[1:].sum(0).clip(0, 1)
    return probs


def test_peaks_found_at_the_planted_voxels_with_the_right_class():
    peaks = find_peaks(maps_with_planted_peaks(), [0, 2.0, 4.0], nms_fraction=0.5, min_prob=0.1,
                       smooth_sigma_vox=0.0, exclusive=True)
    got = sorted(zip(peaks.target.tolist(), map(tuple, peaks.xyz.astype(int).tolist())))
    # x, y, z of the planted centres; the class-1 echo under the class-2 blob is not a peak (exclusive)
    assert got == [(1, (7, 6, 5)), (1, (20, 6, 14)), (2, (10, 18, 10))]
    assert np.all(np.diff(peaks.score) <= 0)                       # strongest first
    assert peaks.score[0] == pytest.approx(0.9, abs=1e-6)
    # without the exclusive rule the echo is a class-1 peak too
    loose = find_peaks(maps_with_planted_peaks(), [0, 2.0, 4.0], min_prob=0.1, smooth_sigma_vox=0.0,
                       exclusive=False)
    assert (1, (10, 18, 10)) in zip(loose.target.tolist(), map(tuple, loose.xyz.astype(int).tolist()))
    # smoothing keeps the positions of symmetric blobs
    smooth = find_peaks(maps_with_planted_peaks(), [0, 2.0, 4.0], min_prob=0.1, smooth_sigma_vox=1.0)
    assert sorted(map(tuple, smooth.xyz.astype(int).tolist())) == [(7, 6, 5), (10, 18, 10), (20, 6, 14)]


def test_nms_width_and_plateaus_give_one_peak():
    assert nms_half_width(10.0, 0.5) == 5 and nms_half_width(1.0, 0.5) == 1 and nms_half_width(0.2, 0.5) == 1
    probs = np.zeros((2, 12, 12, 12), np.float32)
    probs[1, 4:7, 4:7, 4:7] = 1.0                                  # a saturated 3^3 plateau
    peaks = find_peaks(probs, [0, 4.0], smooth_sigma_vox=0.0)
    assert len(peaks.target) == 1
    # two peaks 6 voxels apart survive a half-width of 2 (radius 4) but not of 6 (radius 12)
    probs = np.zeros((2, 16, 16, 24), np.float32)
    probs[1] = blob((16, 16, 24), (8, 8, 6), 1.0, 0.9) + blob((16, 16, 24), (8, 8, 12), 1.0, 0.8)
    assert len(find_peaks(probs, [0, 4.0], smooth_sigma_vox=0.0).target) == 2
    assert len(find_peaks(probs, [0, 12.0], smooth_sigma_vox=0.0).target) == 1
    with pytest.raises(ValueError):
        find_peaks(probs, [0, 1, 2])


def truth_two_classes():
    """Occupancy of 4 particles: ids 1, 2 class 1; id 3 class 2; id 4 unscored (target 0)."""
    occ = np.zeros((10, 10, 30), np.int64)
    occ[2:5, 2:5, 2:5] = 1
    occ[2:5, 2:5, 10:13] = 2
    occ[2:5, 2:5, 20:23] = 3
    occ[6:9, 6:9, 20:23] = 4
    return Truth.from_particles(occ, np.array([1, 2, 3]), np.array([1, 1, 2]))


def test_hits_read_like_the_scorer_with_a_one_voxel_dilation():
    truth = truth_two_classes()
    xyz = np.array([[3.0, 3, 3], [5.4, 3, 3], [6.0, 3, 3], [3.0, 3, 5.2], [-4, 3, 3]])
    # x 5.4 rounds to 5, next to the particle's x 4 (dilated); x 6 is two away; z 5.2 -> 5 dilated;
    # x -4 is clamped to 0: two away from x 2
    assert hit_ids(xyz, truth.occupancy).tolist() == [1, 1, 0, 1, 0]
    assert truth.n_per_class.tolist() == [0, 2, 1]


def test_evaluate_counts_like_shrec_by_hand():
    truth = truth_two_classes()
    # by score: class-1 pick on particle 1, a class-2 pick on particle 2 (wrong class), a duplicate on 1,
    # a background pick, a pick on the unscored particle 4, a class-2 pick on particle 3
    xyz = np.array([[3.0, 3, 3], [11, 3, 3], [3, 3, 4], [15, 8, 8], [21, 7, 7], [21, 3, 3]])
    peaks = Peaks(np.array([1, 2, 1, 1, 2, 2]), xyz, np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]))
    r = evaluate(peaks, np.array([0.0, 0.0, 0.0]), truth)
    # TP 3 particles (1, 2, 3) of 3 scored; RR 6 picks -> precision 0.5, recall 1
    assert r["localization_f1"] == pytest.approx(2 * 0.5 / 1.5)
    # class 1: tp 1 (particle 1), fn 1 (particle 2 went to class 2) -> F1 2/3;
    # class 2: tp 1 (particle 3), fp 1 (particle 2) -> F1 2/3; background picks cost the classes nothing
    assert r["class_f1"].tolist() == pytest.approx([0, 2 / 3, 2 / 3])
    # a class-2 threshold of 0.45 drops the last pick: particle 3 is missed
    r = evaluate(peaks, np.array([0.0, 0.0, 0.45]), truth)
    assert r["localization_f1"] == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))


def test_tuned_thresholds_drop_the_false_picks():
    truth = truth_two_classes()
    # class 1: two hits scored 0.9 / 0.8, then three background picks 0.3; class 2: one hit 0.7, one miss 0.6
    xyz = np.array([[3.0, 3, 3], [11, 3, 3], [28, 9, 9], [27, 9, 9], [26, 9, 9], [21, 3, 3], [15, 8, 2]])
    peaks = Peaks(np.array([1, 1, 1, 1, 1, 2, 2]), xyz, np.array([0.9, 0.8, 0.3, 0.3, 0.3, 0.7, 0.6]))
    order = np.argsort(-peaks.score, kind="stable")
    peaks = peaks.select(order)
    thr, result = tune_thresholds(peaks, truth, 3, metric="localization")
    assert 0.3 < thr[1] <= 0.8 and 0.6 < thr[2] <= 0.7
    assert result["localization_f1"] == pytest.approx(1.0) and result["n_picks"] == 3
    thr_c, result_c = tune_thresholds(peaks, truth, 3, metric="class")
    assert result_c["mean_class_f1"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        tune_thresholds(peaks, truth, 3, metric="nope")


def test_separable_cube_max_equals_the_full_cube(rng):
    p = rng.random((9, 11, 13)).astype(np.float32)
    for half in (1, 3):
        want = ndimage.maximum_filter(p, size=2 * half + 1, mode="constant", cval=-np.inf)
        assert np.array_equal(cube_max(torch.from_numpy(p), half).numpy(), want)


def test_cross_class_nms_keeps_one_pick_per_particle(monkeypatch):
    # a class-1 echo 2 voxels off a stronger class-2 peak: both are peaks of their own maps (not exclusive);
    # the cross-class NMS at 1 x the smaller radius (3 voxels) drops the weaker one only, not the far one
    from baselines.unet.cli import Picker
    from baselines.unet.params import UNetParams
    shape = (20, 24, 28)
    probs = np.zeros((3,) + shape, np.float32)
    probs[2] += blob(shape, (10, 12, 10), 1.5, 0.8)
    probs[1] += blob(shape, (10, 12, 12), 1.5, 0.4) + blob(shape, (10, 12, 22), 1.5, 0.5)
    probs[0] = 1 - probs[1:].sum(0).clip(0, 1)
    common = dict(peak_min_prob=0.1, peak_smooth_sigma_vox=0.0, exclusive_peaks=False, tta=False)

    class Identity(torch.nn.Module):
        n_classes = 3

    def picked(fraction):
        picker = Picker(UNetParams(cross_nms_fraction=fraction, **common), np.array([0, 3.0, 5.0]),
                        torch.device("cpu"), False)
        monkeypatch.setattr("baselines.unet.cli.predict_probs", lambda *a, **k: torch.from_numpy(probs))
        p = picker.peaks(Identity(), np.zeros(shape, np.float32), tta=False)
        return sorted(zip(p.target.tolist(), map(tuple, p.xyz.astype(int).tolist())))

    assert picked(0.0) == [(1, (12, 12, 10)), (1, (22, 12, 10)), (2, (10, 12, 10))]
    assert picked(1.0) == [(1, (22, 12, 10)), (2, (10, 12, 10))]
