"""The kept truth and options score exactly as a fresh read, and are read again when a file changes."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading

import numpy as np
import pytest
import yaml

from leaderboard.config import ENV_PARAMS
from leaderboard.scoring_cache import ScoringCache
from leaderboard.store import Refused, Store, WriteCoordinator
from leaderboard.submit import Upload, submit
from tomobench.groundtruth import OCCUPANCY_MASK, PARTICLE_LOCATIONS, find_truth_folders
from tomobench.particles import make_particles, read_particles, write_particles
from tomobench.volumes import read_volume


def _exact_picks(truth_dir, path):
    """Every particle of every test tomogram at its centre with its class, and 2 picks on empty voxels of tomo_000."""
    frames = []
    for name, folder in find_truth_folders(truth_dir).items():
        truth = read_particles(folder / PARTICLE_LOCATIONS, "shrec")
        frames.append(make_particles(truth["class"], truth[["x", "y", "z"]].to_numpy(), tomo=name))
    occupancy = np.asarray(read_volume(find_truth_folders(truth_dir)["tomo_000"] / OCCUPANCY_MASK)[0])
    empty = [(x, y, z) for z in range(1, 31) for y in range(1, 31) for x in range(1, 31)
             if not occupancy[z - 1:z + 2, y - 1:y + 2, x - 1:x + 2].any()][:2]     # no particle within the dilation
    frames.append(make_particles(["1s3x", "1s3x"], np.array(empty, float), tomo="tomo_000"))
    import pandas as pd
    return write_particles(pd.concat(frames, ignore_index=True), path, "csv")


def _upload(store, name, path):
    return Upload(store.add_team(name), f"method of {name}", "picks.csv", path.read_bytes())


def test_cached_scores_are_bit_identical_to_fresh_ones_and_hand_checked(params, store, dataset, tmp_path):
    path = _exact_picks(dataset / "private" / "test", tmp_path / "exact.csv")
    cache = ScoringCache(params)
    cached = [submit(store, params, _upload(store, f"cached{i}", path), scorer=cache).reports for i in range(2)]
    fresh = submit(store, params, _upload(store, "fresh", path)).reports
    assert cache.loads == 1                              # the truth was read once for both cached uploads
    for reports in cached:
        assert json.dumps(reports, sort_keys=True) == json.dumps(fresh, sort_keys=True)
    final, public = fresh["final"], fresh["public"]
    # 3 tomograms x 6 particles, each picked at its centre, + 2 picks on background in tomo_000
    assert (final["RR"], final["TP"], final["FP"], final["FN"], final["MH"]) == (20, 18, 2, 0, 0)
    assert final["AD"] == 0.0 and final["precision"] == pytest.approx(18 / 20) and final["recall"] == 1.0
    assert final["f1"] == pytest.approx(18 / 19)                   # 2 * 0.9 * 1 / 1.9
    # public phase: tomo_000 and tomo_001 (ceil(0.5 * 3) = 2): 12 particles and the 2 background picks
    assert (public["RR"], public["TP"], public["FP"], public["FN"]) == (14, 12, 2, 0)
    assert public["f1"] == pytest.approx(12 / 13)                  # 2 * (6/7) * 1 / (1 + 6/7)


def test_a_changed_truth_file_is_read_again(params, store, dataset, tmp_path):
    truth = tmp_path / "truth"
    shutil.copytree(dataset / "private" / "test", truth)
    params = params.model_copy(update={"private_truth_dir": str(truth)})
    path = _exact_picks(truth, tmp_path / "exact.csv")
    cache = ScoringCache(params)
    setup = cache.get()
    assert cache.get() is setup and cache.loads == 1                # nothing changed: nothing read
    before = submit(store, params, _upload(store, "a", path), scorer=cache).reports["final"]
    assert before["per_class"]["4v94"]["f1"] == 1.0
    # the organizers fix the truth: every particle of tomo_000 becomes class 4v94 (a new mtime, the same size)
    locations = truth / "tomo_000" / PARTICLE_LOCATIONS
    stat = locations.stat()
    locations.write_text("\n".join(" ".join(["4v94"] + line.split()[1:])
                                   for line in locations.read_text().splitlines()) + "\n")
    os.utime(locations, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = submit(store, params, _upload(store, "b", path), scorer=cache).reports
    assert cache.loads == 2 and cache.get() is not setup
    assert after["final"]["per_class"]["4v94"]["f1"] < 1.0           # picks named 1s3x/3qm1 now miss the class
    fresh = submit(store, params, _upload(store, "c", path)).reports
    assert json.dumps(after, sort_keys=True) == json.dumps(fresh, sort_keys=True)


def test_a_changed_params_file_is_read_again(params, tmp_path, monkeypatch):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"scoring": {"radius_multiplier": 0.1}}), encoding="utf-8")
    monkeypatch.setenv(ENV_PARAMS, str(params_file))
    cache = ScoringCache(params)
    assert cache.get().options.radius_multiplier == 0.1
    stat = params_file.stat()
    params_file.write_text(yaml.safe_dump({"scoring": {"radius_multiplier": 2.0}}), encoding="utf-8")
    os.utime(params_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert cache.get().options.radius_multiplier == 2.0 and cache.loads == 2


def test_threads_of_one_team_never_pass_the_daily_limit(params, store, picks_file):
    """12 threads of one process, one team, daily limit 3: 3 stored, 9 refused, no reservation left."""
    token, cache, outcomes = store.add_team("alpha"), ScoringCache(params), []
    start = threading.Barrier(12)

    def one(i: int) -> None:
        start.wait()
        try:
            outcomes.append(submit(Store(params.data_dir), params, Upload(token, f"m{i}", "p.csv",
                                                                          picks_file.read_bytes()), scorer=cache))
        except Refused as exc:
            outcomes.append(str(exc))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [o for o in outcomes if isinstance(o, str)]
    assert len(outcomes) - len(refused) == 3 and len(refused) == 9 and all("daily limit" in m for m in refused)
    assert store.counts()["submissions"] == 3 and store.counts()["files"] == 1
    assert store.read("SELECT COUNT(*) FROM reservations")[0][0] == 0


def test_a_store_replaced_under_its_path_is_the_one_written(tmp_path):
    Store(tmp_path / "s").add_team("old")
    shutil.rmtree(tmp_path / "s")
    Store(tmp_path / "s").add_team("new")
    con = sqlite3.connect(tmp_path / "s" / "leaderboard.sqlite")
    assert [r[0] for r in con.execute("SELECT name FROM teams")] == ["new"]
    con.close()


def test_a_held_database_keeps_its_wal_and_an_evicted_one_does_not(tmp_path):
    writers = WriteCoordinator(max_held=1)
    paths = [tmp_path / "a.sqlite", tmp_path / "b.sqlite"]
    for path in paths:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("CREATE TABLE t (x)")
        con.close()
        writers.hold_open(path)                    # b evicts a (max_held=1)
    for path in paths:
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("INSERT INTO t VALUES (1)")
        con.close()                                # the last connection of a: checkpoint and delete its WAL
    assert [path.with_name(path.name + "-wal").exists() for path in paths] == [False, True]


@pytest.mark.parametrize("slots", [1, 2])
def test_no_more_uploads_score_at_once_than_the_cache_has_slots(params, store, picks_file, monkeypatch, slots):
    """8 threads of 8 teams: at most ``slots`` inside the scorer at a time, and all 8 stored."""
    import leaderboard.submit as submit_module

    inside, most, lock = [0], [0], threading.Lock()
    real = submit_module.score_phases

    def counting(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            threading.Event().wait(0.05)                 # long enough for the other threads to pile up
            return real(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(submit_module, "score_phases", counting)
    cache, start = ScoringCache(params, max_concurrent=slots), threading.Barrier(8)
    tokens = [store.add_team(f"team{i}") for i in range(8)]

    def one(i: int) -> None:
        start.wait()
        submit(Store(params.data_dir), params, Upload(tokens[i], f"m{i}", "p.csv", picks_file.read_bytes()),
               scorer=cache)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == slots and store.counts()["submissions"] == 8
