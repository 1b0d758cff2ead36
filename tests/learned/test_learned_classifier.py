"""Classifier CNN: extraction at borders, one step, two shapes separated, the task's simulation, metrics."""

import numpy as np
import pandas as pd
import pytest
import torch

from baselines.classifier.candidates import (
    dog_candidates,
    dog_grid_picks,
    group_sigmas_vox,
    multiscale_candidates,
    tune_dog_grid,
)
from baselines.classifier.extract import background_points, extract_subtomograms
from baselines.classifier.metrics import cluster_purity, confusion_matrix, kmeans_purity, per_class_f1
from baselines.classifier.model import SubtomoCNN
from baselines.classifier.picking import (
    assigned_peaks,
    classified_peaks,
    jittered_boxes,
    matched_candidates,
    nms_by_class_radius,
    picks_from_logits,
)
from baselines.classifier.subtomo_task import simulate_subtomograms, wedge_mask
from baselines.classifier.train import balanced_accuracy, predict_logits, train_classifier
from baselines.synthetic import shape_template
from baselines.torch_common import seed_everything, setup_torch
from baselines.training_data import TrainTomogram
from baselines.unet.peaks import Truth

setup_torch(2)


def test_extraction_centres_and_pads_at_borders():
    v = np.arange(5 * 6 * 7, dtype=np.float32).reshape(5, 6, 7) + 1  # [z, y, x], no zeros inside
    sub = extract_subtomograms(v, np.array([[3, 2, 1], [0, 0, 0], [6, 5, 4]]), 4)
    assert sub.shape == (3, 4, 4, 4)
    # box 4 centred on voxel c spans c-2 .. c+1; the centre lands on index 2
    assert sub[0, 2, 2, 2] == v[1, 2, 3]
    assert np.array_equal(sub[0, 1:, :, :], v[0:3, 0:4, 1:5])
    assert (sub[0, 0] == 0).all()            # z = -1 is outside: padded with 0
    assert sub[1, 2, 2, 2] == v[0, 0, 0] and (sub[1, :2] == 0).all() and (sub[1, :, :2] == 0).all()
    assert sub[2, 2, 2, 2] == v[4, 5, 6] and (sub[2, 3] == 0).all() and (sub[2, :, :, 3] == 0).all()
    far = extract_subtomograms(v, np.array([[100, 100, 100]]), 4, fill=-1.0)
    assert (far == -1).all()


def test_background_points_keep_away_from_particles(rng):
    particles = np.array([[10.0, 10, 10], [20, 20, 20]])
    mask = np.zeros((32, 32, 32), np.uint8)
    mask[:, :, :4] = 1
    pts = background_points(mask.shape, particles, 50, 6.0, rng, class_mask=mask)
    assert len(pts) == 50
    d = np.linalg.norm(pts[:, None] - particles[None], axis=2)
    assert d.min() >= 6.0 and (pts[:, 0] >= 4).all()


def test_one_step_lowers_the_loss(rng):
    seed_everything(0)
    model = SubtomoCNN(3, width=4, hidden=16, dropout=0.0)
    x = torch.from_numpy(rng.normal(size=(8, 1, 16, 16, 16)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 3, 8))
    assert model(x).shape == (8, 3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    before = torch.nn.functional.cross_entropy(model(x), y)
    before.backward()
    opt.step()
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(model(x), y)
    assert float(after) < float(before.detach())


def test_cnn_separates_two_very_different_shapes(rng):
    templates = {"ball": shape_template("sphere", 16, 4), "rod": shape_template("rod", 16, 6)}
    x, y, names = simulate_subtomograms(templates, 40, 10.0, 90, 16, rng, max_shift_vox=1, include_empty=False)
    train = rng.permutation(len(x))
    tr, te = train[:40], train[40:]
    model, _ = train_classifier(x[tr], y[tr], 2, seed_everything(0), width=4, hidden=16, epochs=10,
                                batch_size=8, learning_rate=3e-3, progress=False)
    acc = (predict_logits(model, x[te]).argmax(1) == y[te]).mean()
    assert acc > 0.95


def test_wedge_mask_geometry():
    m = wedge_mask(16, 60)
    assert m[0, 0, 0] and m[0, 0, 3] and m[0, 5, 3]
    assert not m[3, 0, 0]                    # k along z (the beam) is missing
    assert m[1, 0, 4] and not m[4, 0, 1]     # inside / outside |kz| <= |kx| tan 60°
    assert not m[3, 5, 0]                    # the wedge holds for every k_y
    assert wedge_mask(16, 90).all()
    # the sampled fraction grows with the tilt range
    assert wedge_mask(16, 40).mean() < wedge_mask(16, 50).mean() < wedge_mask(16, 60).mean()


def test_simulated_subtomograms_hit_the_target_snr(rng):
    tpl = {"ball": shape_template("sphere", 16, 4)}
    clean, _, _ = simulate_subtomograms(tpl, 20, 1e9, 60, 16, rng, max_shift_vox=0, include_empty=False)
    noisy, y, names = simulate_subtomograms(tpl, 20, 0.5, 60, 16, np.random.default_rng(7), max_shift_vox=0)
    assert names == ["ball", "empty"] and np.array_equal(np.bincount(y), [20, 20])
    noise_var = noisy[y == 1].var()          # empty boxes: noise only
    signal_var = clean.var(axis=(1, 2, 3)).mean()
    assert signal_var / noise_var == pytest.approx(0.5, rel=0.1)
    # the missing wedge: nothing of the data lies outside the mask
    ft = np.fft.fftn(noisy[0])
    assert np.abs(ft[~wedge_mask(16, 60)]).max() < 1e-3 * np.abs(ft).max()


def test_metrics_hand_computed():
    c = confusion_matrix([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3)
    assert c.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert per_class_f1(c) == pytest.approx([2 * 1 / (2 + 1 + 1), 2 * 2 / (4 + 1), 0.0])
    assert cluster_purity([0, 0, 1, 1, 1], [5, 5, 5, 7, 7]) == pytest.approx(4 / 5)
    assert balanced_accuracy(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0])) == pytest.approx(0.5)
    feats = np.r_[np.zeros((6, 2)), np.full((6, 2), 10.0)] + np.random.default_rng(0).normal(0, 0.1, (12, 2))
    purity, clusters = kmeans_purity(feats, [0] * 6 + [1] * 6, 2, seed=3)
    assert purity == 1.0 and len(set(clusters)) == 2


def test_picks_from_logits_drop_background_and_close_duplicates():
    xyz = np.array([[0.0, 0, 0], [1, 0, 0], [10, 0, 0], [20, 0, 0]])
    logits = np.array([[0.0, 5, 0], [0, 6, 0], [0, 0, 0.1], [9, 0, 0]])
    df = picks_from_logits(xyz, logits, ["background", "a", "b"], min_probability=0.5, min_distance_vox=3)
    assert list(df["class"]) == ["a"] and df["x"].iloc[0] == 1.0  # the more probable of the close pair
    df = picks_from_logits(xyz, logits, ["background", "a", "b"], min_probability=0.3, min_distance_vox=3)
    assert list(df["class"]) == ["a", "b"]


def test_dog_finds_planted_blobs(rng):
    v = rng.normal(0, 0.2, (24, 32, 32)).astype(np.float32)
    centres = [(8, 8, 8), (24, 20, 12), (10, 24, 16)]  # x, y, z
    ball = shape_template("sphere", 9, 3)
    for x, y, z in centres:
        v[z - 4:z + 5, y - 4:y + 5, x - 4:x + 5] += ball
    xyz, score = dog_candidates(v, 1.8, min_distance_vox=4, quantile=0.99, max_candidates=3)
    assert sorted(map(tuple, xyz.astype(int))) == sorted(centres)


def test_same_seed_same_model_and_simulation():
    def once():
        rng = np.random.default_rng(5)
        tpl = {"ball": shape_template("sphere", 12, 3), "rod": shape_template("rod", 12, 5)}
        x, y, _ = simulate_subtomograms(tpl, 6, 1.0, 50, 12, rng)
        model, _ = train_classifier(x, y, 3, seed_everything(3), width=2, hidden=4, epochs=2, batch_size=4,
                                    progress=False)
        return x, predict_logits(model, x)
    (x1, l1), (x2, l2) = once(), once()
    assert np.array_equal(x1, x2) and np.array_equal(l1, l2)


def test_jittered_boxes_move_the_particle_within_the_radius(rng):
    v = np.zeros((40, 40, 40), np.float32)
    v[20, 18, 22] = 1.0                                             # the particle's centre voxel (z, y, x)
    particles = pd.DataFrame({"x": [22.0], "y": [18.0], "z": [20.0], "target": [1], "id": [1]})
    tomo = TrainTomogram("t", v, np.zeros_like(v, np.uint8), particles, 10.0)
    x, y = jittered_boxes(tomo, 16, np.array([0.0, 4.0]), jitter_fraction=1.0, copies=50, rng=rng)
    assert x.shape == (50, 16, 16, 16) and (y == 1).all()
    offsets = np.array([np.argwhere(b == 1.0)[0] for b in x]) - 8    # where the centre voxel landed
    dist = np.linalg.norm(offsets, axis=1)
    assert dist.max() <= 4.0 + np.sqrt(3) / 2 and dist.min() < 2 and (dist > 2).any()
    x0, _ = jittered_boxes(tomo, 16, np.array([0.0, 4.0]), jitter_fraction=0.0, copies=2, rng=rng)
    assert (x0[:, 8, 8, 8] == 1).all()                              # no jitter: centred boxes


def test_candidates_are_labelled_by_the_particle_they_land_in():
    occ = np.zeros((10, 10, 20), np.int64)
    occ[2:5, 2:5, 2:5] = 1
    occ[2:5, 2:5, 10:13] = 2                                        # an unscored particle (target 0)
    truth = Truth.from_particles(occ, np.array([1]), np.array([3]))
    xyz = np.array([[3.0, 3, 3], [11, 3, 3], [17, 8, 8]])
    assert matched_candidates(xyz, truth).tolist() == [3, 0, 0]


def test_one_dog_scale_per_size_group_finds_small_and_large_blobs(rng):
    radii = {"a": 2.0, "b": 4.0, "c": 9.0, "d": 11.0}
    groups = {"a": "small", "b": "small", "c": "large", "d": "large"}
    assert group_sigmas_vox(radii, groups) == pytest.approx([3 / np.sqrt(3), 10 / np.sqrt(3)])
    groups["b"] = "medium"                                          # medium (4) within 1.2 x small (2)? no
    assert len(group_sigmas_vox(radii, groups)) == 3
    assert len(group_sigmas_vox({"a": 3.0, "b": 3.3}, {"a": "small", "b": "medium"})) == 1
    v = rng.normal(0, 0.05, (40, 48, 64)).astype(np.float32)
    z, y, x = np.indices(v.shape)
    v += ((x - 12) ** 2 + (y - 12) ** 2 + (z - 20) ** 2 <= 2.5 ** 2).astype(np.float32)
    v += ((x - 44) ** 2 + (y - 30) ** 2 + (z - 20) ** 2 <= 9 ** 2).astype(np.float32)
    xyz, score = multiscale_candidates(v, [1.5, 5.0], quantile=0.999, max_candidates=2)
    assert sorted(map(tuple, np.rint(xyz).astype(int))) == [(12, 12, 20), (44, 30, 20)]
    assert score[0] >= score[1]


def test_classified_peaks_nms_at_the_class_radius():
    xyz = np.array([[0.0, 0, 0], [4, 0, 0], [30, 0, 0], [33, 0, 0]])
    # class 1 (radius 2): two picks 4 apart both stay; class 2 (radius 5): the weaker of two 3 apart goes
    logits = np.array([[0.0, 5, 0], [0, 4, 0], [0, 0, 5], [0, 0, 4]])
    peaks = classified_peaks(xyz, logits, np.array([0.0, 2.0, 5.0]))
    assert sorted(map(tuple, peaks.xyz.tolist())) == [(0, 0, 0), (4, 0, 0), (30, 0, 0)]
    # between classes the smaller distance applies: a class-1 pick 3 from a class-2 pick stays
    logits = np.array([[0.0, 5, 0], [0, 0, 4], [0, 0, 5], [0, 4, 0]])
    peaks = classified_peaks(xyz, logits, np.array([0.0, 2.0, 5.0]))
    assert len(peaks.target) == 4


def test_assigned_peaks_keep_every_candidate_with_its_best_particle_class():
    # candidate 0: background wins (0.8) but its best particle class is 2; candidate 1: class 1
    prob = np.array([[0.8, 0.05, 0.15], [0.1, 0.6, 0.3]])
    peaks = assigned_peaks(np.array([[1.0, 2, 3], [4, 5, 6]]), np.log(prob))
    assert peaks.target.tolist() == [1, 2]                          # by score: 0.9 first, then 0.2
    assert peaks.score == pytest.approx([0.9, 0.2])                 # 1 - P(background)
    assert peaks.xyz.tolist() == [[4, 5, 6], [1, 2, 3]]


def _three_blobs() -> tuple[np.ndarray, Truth]:
    v = np.zeros((24, 24, 40), np.float32)
    occ = np.zeros(v.shape, np.int64)
    z, y, x = np.indices(v.shape)
    for pid, (cx, amplitude) in enumerate([(8, 1.0), (20, 0.8), (32, 0.6)], start=1):
        ball = (x - cx) ** 2 + (y - 12) ** 2 + (z - 12) ** 2 <= 2.5 ** 2
        v[ball] = amplitude
        occ[ball] = pid
    return v, Truth.from_particles(occ, np.array([1, 2, 3]), np.array([1, 1, 1]))


def test_dog_grid_picks_and_tuning_by_hand():
    v, truth = _three_blobs()
    # t = 1: T = m + (M - m) / 20 keeps all three blobs (their peaks are far above the tails')
    xyz, score = dog_grid_picks(v, 1.5, 1.0, ratio=1.6, polarity=1.0, min_distance_vox=4.0)
    assert np.rint(xyz).astype(int).tolist() == [[8, 12, 12], [20, 12, 12], [32, 12, 12]]
    assert score[0] > score[1] > score[2]
    # t = 19: T = M - (M - m) / 20 keeps only the strongest: F1 = 2 * 1 / (1 + 3) = 0.5
    assert len(dog_grid_picks(v, 1.5, 19.0, ratio=1.6, polarity=1.0, min_distance_vox=4.0)[0]) == 1
    sigma, t, f1 = tune_dog_grid([v], [truth], [1.5], [19.0], ratio=1.6, polarity=1.0,
                                 min_distance_vox=lambda s: 4.0)
    assert (sigma, t) == (1.5, 19.0) and f1 == pytest.approx(0.5)
    # all three found at t = 1 and t = 2: F1 1, the tie goes to the larger t
    sigma, t, f1 = tune_dog_grid([v], [truth], [1.5], [1.0, 2.0, 19.0], ratio=1.6, polarity=1.0,
                                 min_distance_vox=lambda s: 4.0)
    assert (t, f1) == (2.0, 1.0)
    # dark particles: with polarity -1 the bright blobs give no peak above the threshold on them
    assert tune_dog_grid([v], [truth], [1.5], [1.0], ratio=1.6, polarity=-1.0, min_distance_vox=lambda s: 4.0)[2] < 1


def test_nms_by_class_radius_by_hand():
    xyz = np.array([[0.0, 0, 0], [4, 0, 0], [30, 0, 0], [33, 0, 0]])   # strongest first
    cls = np.array([1, 1, 2, 2])
    # per class: class 1 keeps picks 4 apart (radius 2), class 2 drops the one 3 from a stronger (radius 5)
    assert nms_by_class_radius(xyz, cls, np.array([0.0, 2.0, 5.0])).tolist() == [True, True, True, False]
    # one distance for all: 4 < 5 and 3 < 5 both go
    assert nms_by_class_radius(xyz, cls, 5.0).tolist() == [True, False, True, False]
    # a dropped point does not suppress others: 0 -> drops 4 (at 4); 8 is 8 from 0, kept
    assert nms_by_class_radius(np.array([[0.0, 0, 0], [4, 0, 0], [8, 0, 0]]), np.ones(3, int), 5.0).tolist() == \
        [True, False, True]
