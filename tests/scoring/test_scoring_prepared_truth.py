"""A prepared truth scores as the truth folder does; the vectorised tally equals the per-pick loop it replaced."""

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from scoring import prepare_truth, score_particles
from scoring.matching import match_picks
from scoring.tally import _distances, _first_hits, tally_tomogram
from tomobench.particles import make_particles
from tomobench.testing import write_sphere_truth


def picks_table():
    """The hand-computed case of test_scoring_hand_computed (see the comments there)."""
    return make_particles(["A", "B", "A", "A", "A", "B", "unknown"],
                          [(8, 8, 8), (8, 9, 8), (20, 8, 8), (0, 0, 0), (40, 8, 8), (24, 24, 24), (9, 20, 20)])


def test_prepared_truth_gives_the_hand_computed_report_bit_for_bit(truth_dir):
    prepared = prepare_truth(truth_dir)
    assert prepare_truth(prepared) is prepared
    assert prepared.scored == ["A", "B", "D"] and prepared.radius_vox == {"A": 2.0, "B": 2.0, "D": 2.0}
    reports = [score_particles(picks_table(), t) for t in (truth_dir, prepared, prepared, prepared.truths)]
    r = reports[1]
    # the hand-computed figures of test_scoring_hand_computed.test_localization_counts
    assert (r["RR"], r["TP"], r["FP"], r["FN"], r["MH"], r["RO"]) == (7, 3, 2, 1, 1, 1)
    assert r["AD"] == pytest.approx(1 / 3) and r["f1"] == pytest.approx(18 / 33)
    assert all(json.dumps(other) == json.dumps(reports[0]) for other in reports[1:])


def test_subset_is_the_truth_of_those_tomograms_loaded_alone(tmp_path, class_table):
    split = tmp_path / "split"
    write_sphere_truth(split / "t1", ["A", "B"], [(8, 8, 8), (20, 8, 8)], [2, 2], class_table=class_table)
    write_sphere_truth(split / "t2", ["A", "D"], [(8, 20, 8), (20, 20, 20)], [2, 3], class_table=class_table)
    picks = make_particles(["A", "B", "A"], [(8, 8, 8), (20, 8, 9), (8, 20, 8)], tomo=["t2", "t2", "t2"])
    sub = prepare_truth(split).subset(["t2"])
    assert list(sub.truths) == ["t2"]
    assert json.dumps(score_particles(picks, sub)) == json.dumps(score_particles(picks, split / "t2"))


def test_first_hits_in_order_of_the_first_pick():
    # rows 10..14 hit particles 3, 1, 3, 2, 1: first hits 3 at row 10, 1 at row 11, 2 at row 13
    first, hits = _first_hits(np.array([3, 1, 3, 2, 1]), np.array([10, 11, 12, 13, 14]))
    assert first.tolist() == [[3, 10], [1, 11], [2, 13]]
    assert hits.tolist() == [2, 2, 1]
    first, hits = _first_hits(np.array([], dtype=int), np.array([], dtype=int))
    assert first.shape == (0, 2) and hits.size == 0


def test_distances_are_the_per_row_norm_bit_for_bit():
    rng = np.random.default_rng(0)
    voxels = rng.integers(-5, 300, (20_000, 3))
    centres = rng.uniform(-5, 300, (20_000, 3)) * rng.choice([1.0, 1e-3, 1e3], (20_000, 1))
    expected = [float(np.linalg.norm(v - c)) for v, c in zip(voxels, centres)]
    assert _distances(voxels, centres).tolist() == expected      # exact equality, not approx
    assert _distances(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0,)


def _loop_tally(picks, truth_particles, occupancy, scored):
    """The per-pick loops of the scorer before vectorisation (the reference)."""
    truth_class = truth_particles["class"].to_numpy()
    truth_xyz = truth_particles[["x", "y", "z"]].to_numpy(float)
    is_scored = np.isin(truth_class, list(scored))
    matches = match_picks(picks[["x", "y", "z"]].to_numpy(float), occupancy)
    hit = matches.hit_id
    valid = (hit > 0) & is_scored[np.maximum(hit, 1) - 1]          # on a scored particle
    pick_class = picks["class"].to_numpy()
    first_hit: dict[int, int] = {}
    per_particle: Counter = Counter()
    for i in np.flatnonzero(valid):
        per_particle[int(hit[i])] += 1
        first_hit.setdefault(int(hit[i]), int(i))
    distances = [float(np.linalg.norm(matches.voxel[i] - truth_xyz[pid - 1])) for pid, i in first_hit.items()]
    confusion: Counter = Counter()
    for pid in (np.flatnonzero(is_scored) + 1).tolist():
        confusion[(truth_class[pid - 1], pick_class[first_hit[pid]] if pid in first_hit else "background")] += 1
    return len(first_hit), sum(c > 1 for c in per_particle.values()), distances, confusion


@pytest.mark.parametrize("seed", range(5))
def test_vectorised_tally_equals_the_loops(truth_dir, seed):
    truth = prepare_truth(truth_dir).truths["tomo_a"]
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    centres = truth.particles[["x", "y", "z"]].to_numpy(float)
    xyz = np.vstack([centres[rng.integers(0, len(centres), n)] + rng.normal(0, 1.2, (n, 3)),
                     rng.uniform(-3, 35, (5, 3))])              # near particles (many multiple hits), anywhere
    picks = make_particles(rng.choice(["A", "B", "D", "unknown"], len(xyz)), xyz)
    tally = tally_tomogram(picks, truth.particles, truth.occupancy, {"A", "B", "D"}, {"A": 1.0, "B": 1.0, "D": 1.5})
    tp, mh, distances, confusion = _loop_tally(picks, truth.particles, truth.occupancy, {"A", "B", "D"})
    assert (tally.TP, tally.MH) == (tp, mh)
    assert tally.distances == distances                           # same values in the same order
    assert list(tally.confusion.items()) == list(confusion.items())


def test_scoring_on_several_truths_counts_a_shared_tomogram_once(tmp_path, class_table, monkeypatch):
    import scoring.api as api

    split = tmp_path / "split"
    for i, centre in enumerate([(8, 8, 8), (20, 8, 8), (8, 20, 8)]):
        write_sphere_truth(split / f"t{i}", ["A", "B"], [centre, (24, 24, 24)], [2, 2], class_table=class_table)
    picks = make_particles(["A", "B", "A", "A", "B"], [(8, 8, 8), (24, 24, 24), (20, 8, 9), (8, 20, 8), (1, 1, 1)],
                           tomo=["t0", "t0", "t1", "t2", "t2"])
    final = prepare_truth(split)
    public = final.subset(["t0", "t1"])
    for name in ("t0", "t1"):                        # the public truth loaded on its own, independently
        shutil.copytree(split / name, tmp_path / "public" / name)
    expected_public = score_particles(picks[picks["tomo"].isin(["t0", "t1"])].reset_index(drop=True),
                                      tmp_path / "public")
    expected_final = score_particles(picks, split)
    calls = []
    real = api.tally_tomogram
    monkeypatch.setattr(api, "tally_tomogram", lambda *a, **k: calls.append(1) or real(*a, **k))
    reports = api.score_particles_on(picks, {"final": final, "public": public})
    assert len(calls) == 3                          # t0 and t1 counted once for both truths
    assert json.dumps(reports["final"]) == json.dumps(expected_final)
    assert json.dumps(reports["public"]) == json.dumps(expected_public)
    assert (reports["public"]["RR"], reports["public"]["TP"]) == (3, 3)        # the 2 picks of t2 left out
    assert (reports["final"]["RR"], reports["final"]["TP"], reports["final"]["FP"]) == (5, 4, 1)
