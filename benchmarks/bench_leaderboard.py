"""Leaderboard speed: page render time with 1,000 stored submissions; a 3,000-pick upload scored + stored.

Targets of issue 9: the Leaderboard page renders in under 2 s with 1,000 stored
submissions; a 3,000-pick upload is scored (both phases, real scorer) and stored
in under 5 s. Run: ``PYTHONPATH=$PWD python benchmarks/bench_leaderboard.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboard import demo  # noqa: E402
from leaderboard.config import ENV_DATA_DIR, ENV_PARAMS  # noqa: E402
from leaderboard.store import Store, Submission  # noqa: E402
from leaderboard.submit import Upload, score_phases, submit  # noqa: E402
from tomobench.particles import write_particles  # noqa: E402


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench_leaderboard_"))
    t = time.perf_counter()
    demo.make_dataset(root, n_train=1, n_test=3, shape_zyx=(100, 256, 256), n_particles=1000, seed=0)
    print(f"dataset: 3 test tomograms of 100x256x256 voxels, 1,000 particles each "
          f"({time.perf_counter() - t:.1f} s to build)")
    params_file = demo.demo_params_yaml(root, daily_limit=1000, max_file_mb=50)
    os.environ[ENV_PARAMS] = str(params_file)
    os.environ.pop(ENV_DATA_DIR, None)
    from leaderboard.config import load_params

    params = load_params(params_file)
    store = Store(params.data_dir)
    picks = demo.make_picks(root / "private" / "test", np.random.default_rng(1), recall=0.9, false_positives=0.1)
    path = write_particles(picks, root / "picks.csv", "csv")
    print(f"upload: {len(picks):,} picks, {path.stat().st_size / 1e6:.2f} MB CSV")
    token = store.add_team("bench")
    times = []
    for i in range(3):
        t = time.perf_counter()
        result = submit(store, params, Upload(token, f"run {i}", "picks.csv", path.read_bytes()))
        times.append(time.perf_counter() - t)
    print(f"3,000-pick upload scored (public + final phase) and stored: median {statistics.median(times):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in times)}; target < 5 s); final F1 {result.reports['final']['f1']:.3f}")

    scored = score_phases(path, "csv", params)
    rng = np.random.default_rng(2)
    t = time.perf_counter()
    teams = [store.team_for_token(store.add_team(f"team {i:03d}")).id for i in range(100)]
    for i in range(997):
        reports = {}
        for phase, (report, flat) in scored.items():
            f1 = float(rng.uniform(0.2, 0.95))
            report = dict(report, f1=f1, per_class={c: dict(v, f1=float(rng.uniform(0, 1)))
                                                     for c, v in report["per_class"].items()})
            reports[phase] = (report, dict(flat, f1=f1))
        store.add_submission(Submission(f"method {i}", params.dataset, team_id=teams[i % 100], runtime_s=10.0 + i,
                                        hardware="1 GPU"), reports)
    n = store.counts()["submissions"]
    print(f"stored {n:,} submissions ({time.perf_counter() - t:.1f} s to insert)")

    from streamlit.testing.v1 import AppTest

    import leaderboard

    app = str(Path(leaderboard.__file__).with_name("app.py"))
    renders = []
    for _ in range(3):
        at = AppTest.from_file(app, default_timeout=120)
        t = time.perf_counter()
        at.run()
        renders.append(time.perf_counter() - t)
        assert not at.exception, at.exception
        rows = max(len(df.value) for df in at.dataframe)
    print(f"Leaderboard page with {n:,} submissions ({rows:,} table rows, 5 charts) rendered by Streamlit's "
          f"script runner: median {statistics.median(renders):.2f} s (runs: {', '.join(f'{x:.2f}' for x in renders)}; "
          f"target < 2 s)")


if __name__ == "__main__":
    main()
