"""Multi-ball coarse-graining rules and volumes."""

import math

import numpy as np
import pytest

from generator.structures.balls import ball_model, ball_report_row, kmeans, n_balls, union_volume_a3


def test_k_rule():
    assert n_balls(10) == 3
    assert n_balls(15000) == 3
    assert n_balls(15001) == 4
    assert n_balls(142_000) == 29


@pytest.mark.parametrize("n_points", [50, 25_000])
def test_balls_cover_every_atom(n_points):
    rng = np.random.default_rng(5)
    pts = np.concatenate([rng.normal(c, 8.0, (n_points // 5, 3)) for c in rng.uniform(-60, 60, (5, 3))])
    k = n_balls(len(pts), 5000)
    balls = ball_model(pts, k, np.random.default_rng(1))
    assert len(balls) >= 3 and len(balls) == k
    d = np.sqrt(((pts[:, None, :] - balls[None, :, :3]) ** 2).sum(axis=2))
    assert np.all((d <= balls[None, :, 3] + 1e-9).any(axis=1))


def test_kmeans_deterministic_and_finds_separated_clusters():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [100, 0, 0], [0, 100, 0]], float)
    pts = np.concatenate([rng.normal(c, 3.0, (200, 3)) for c in centres])
    c1, l1 = kmeans(pts, 3, np.random.default_rng(7))
    c2, l2 = kmeans(pts, 3, np.random.default_rng(7))
    assert np.array_equal(c1, c2) and np.array_equal(l1, l2)
    found = sorted(map(tuple, np.round(c1 / 100.0)))
    assert found == sorted(map(tuple, np.round(centres / 100.0)))


def test_union_volume_of_balls():
    one = np.array([[0.0, 0.0, 0.0, 20.0]])
    assert union_volume_a3(one, 0.5) == pytest.approx(4 / 3 * math.pi * 20 ** 3, rel=0.02)
    two = np.array([[0.0, 0.0, 0.0, 10.0], [50.0, 0.0, 0.0, 10.0]])
    assert union_volume_a3(two, 0.5) == pytest.approx(2 * 4 / 3 * math.pi * 1000, rel=0.02)
    same = np.array([[0.0, 0.0, 0.0, 10.0], [0.0, 0.0, 0.0, 10.0]])
    assert union_volume_a3(same, 0.5) == pytest.approx(4 / 3 * math.pi * 1000, rel=0.02)


def test_report_row():
    balls = np.array([[0.0, 0.0, 0.0, 10.0], [50.0, 0.0, 0.0, 10.0]])
    row = ball_report_row("x", balls, 35.0, 5.0, 1.0)
    assert row["single_ball_nm3"] == pytest.approx(4 / 3 * math.pi * 35 ** 3 / 1000)
    assert 0 < row["saving_vs_single_pct"] < 100
