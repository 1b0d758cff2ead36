"""DoG picker: sphere finding, the paper's threshold, size guess, grid search."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from classical_synth import blob_template, distance_f1, plant, scatter_positions  # noqa: E402

from baselines.dog import (  # noqa: E402
    dog_filter,
    dog_threshold,
    grid_search,
    local_peaks,
    pick_volume,
    select_peaks,
    size_class_guess,
)
from tomobench.particles import make_particles  # noqa: E402


def spheres_volume(rng, radii, shape=(40, 60, 60), noise=0.3, sign=1.0):
    volume = rng.normal(0.0, noise, shape).astype(np.float32)
    centres = scatter_positions(shape, radii, rng, margin=3)
    for p, r in zip(centres, radii):
        plant(volume, blob_template(2 * int(r) + 3, [(0, 0, 0, r, 1.0)]), p, sign)
    return volume, np.array(centres)


def test_threshold_formula_by_hand():
    values = np.array([10.0, 6.0, 4.0, 2.0])
    # T = m + t (M - m) / 20 = 2 + 5 * 8 / 20 = 4
    assert dog_threshold(values, 5.0) == pytest.approx(4.0)
    assert list(select_peaks(values, t=5.0)) == [0, 1, 2]
    assert list(select_peaks(values, t=10.0)) == [0, 1]       # T = 6, kept when >= T
    assert list(select_peaks(values, t=12.0)) == [0]          # T = 6.8
    assert list(select_peaks(values, top_n=2)) == [0, 1]
    assert dog_threshold(np.array([]), 5.0) == math.inf


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_dog_finds_spheres_of_matching_size(sign):
    rng = np.random.default_rng(11)
    volume, centres = spheres_volume(rng, [4.0] * 10, sign=sign)
    zyx, scores = pick_volume(volume, 4.0 / math.sqrt(3), ratio=1.1, sign=sign, min_distance_vox=4.0,
                              top_n=len(centres))
    d = np.linalg.norm(centres[:, None] - zyx[None], axis=-1)
    assert d.min(axis=1).max() <= 1.5                        # every sphere found within 1.5 voxels
    # the paper's threshold (t = 5) separates the spheres from noise peaks here
    zyx_t, _ = pick_volume(volume, 4.0 / math.sqrt(3), ratio=1.1, sign=sign, min_distance_vox=4.0, t=5.0)
    assert len(centres) <= len(zyx_t) <= len(centres) + 2


def test_local_peaks_respect_min_distance():
    response = np.random.default_rng(0).random((20, 20, 20)).astype(np.float32)
    zyx, values = local_peaks(response, 3.0)
    assert np.all(np.diff(values) <= 0)
    cheb = np.abs(zyx[:, None] - zyx[None]).max(axis=-1) + np.eye(len(zyx), dtype=int) * 99
    assert cheb.min() > 3


def test_dog_filter_peaks_at_the_matching_scale():
    ball = blob_template(41, [(0, 0, 0, 6.0, 1.0)])
    responses = [dog_filter(ball, s)[20, 20, 20] for s in (1.0, 2.0, 6.0 / math.sqrt(3), 5.0, 8.0)]
    assert int(np.argmax(responses)) == 2


def test_size_guess_separates_small_and_large_spheres():
    rng = np.random.default_rng(5)
    radii = [3.0] * 5 + [7.0] * 5
    volume, centres = spheres_volume(rng, radii, shape=(44, 70, 70), noise=0.1)
    names = size_class_guess(volume, centres, {"small": 3.0, "large": 7.0})
    assert names == ["small"] * 5 + ["large"] * 5


def test_grid_search_picks_the_true_scale():
    rng = np.random.default_rng(2)
    volume, centres = spheres_volume(rng, [4.5] * 10, noise=0.4)
    truth = make_particles(["unknown"] * len(centres), centres[:, ::-1].astype(float))
    sigmas = [1.0, 4.5 / math.sqrt(3), 6.0]
    candidates = {s: {"t0": local_peaks(dog_filter(volume, s), 4.5)} for s in sigmas}

    def objective(picks, _truth_dir):
        return distance_f1(picks, truth, 2.0)

    sigma1, t, table = grid_search(candidates, [1.0, 3.0, 5.0, 8.0], Path("."), objective)
    assert sigma1 == pytest.approx(sigmas[1])
    assert table["objective"].max() >= 0.9
    assert len(table) == 12
