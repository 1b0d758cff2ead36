"""Leaderboard speed: warm render of the Leaderboard page; 50 concurrent uploads through the real submit path.

Issue 18 / 20 targets, on a quiet machine: the Leaderboard page renders warm in <= 1 s with the
pipeline's results and with 1,000 stored submissions; with 50 uploads at once, p95 latency <= 3 s.

* Render: Streamlit's script runner (``AppTest``) runs ``leaderboard/app.py`` as the server does for a
  browser session; "cold" is the first run in a fresh process (imports, first read of the store),
  "warm" the reruns after it (what a visitor's next click or reload costs). The browser's own drawing
  of the charts is not included.
* Uploads: 50 threads (Streamlit serves every session from threads of one process) call
  :func:`leaderboard.submit.submit` at once, each for its own team, with a 3,000-pick CSV: token,
  limits, reservation, scoring of both phases with the real scorer, storing. The truth and the
  scoring options come from one :class:`~leaderboard.scoring_cache.ScoringCache`, already read, as
  in a running server (the Submit page keeps one per process; every upload still checks the files'
  stamps). Scoring happens in the request: the latency is the time until the score is stored.

Run: ``PYTHONPATH=$PWD python benchmarks/bench_leaderboard.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboard import demo  # noqa: E402
from leaderboard.cli import wait_healthy  # noqa: E402
from leaderboard.config import ENV_DATA_DIR, ENV_PARAMS, load_params  # noqa: E402
from leaderboard.exchange import import_results  # noqa: E402
from leaderboard.scoring_cache import ScoringCache  # noqa: E402
from leaderboard.store import Store, Submission  # noqa: E402
from leaderboard.submit import Upload, score_phases, submit  # noqa: E402
from tomobench.particles import write_particles  # noqa: E402


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, p95 {p95(values):.2f} s (n={len(values)})"


def render_times(params_file: Path, n_warm: int) -> tuple[float, list[float], int]:
    """(cold render s, warm renders s, rows of the biggest table) of the Leaderboard page."""
    from streamlit.testing.v1 import AppTest

    import leaderboard

    os.environ[ENV_PARAMS] = str(params_file)
    os.environ.pop(ENV_DATA_DIR, None)
    at = AppTest.from_file(str(Path(leaderboard.__file__).with_name("app.py")), default_timeout=300)
    t = time.perf_counter()
    at.run()
    cold = time.perf_counter() - t
    assert not at.exception, at.exception
    warm = []
    for _ in range(n_warm):
        t = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - t)
        assert not at.exception, at.exception
    return cold, warm, max(len(df.value) for df in at.dataframe)


def browser_render_times(params_file: Path, n_warm: int) -> tuple[float, list[float]] | None:
    """(first load s, warm reloads s) of the Leaderboard page in Debian's Chromium until the table and every
    chart are drawn, against ``tomobench leaderboard serve``; None without Chromium or Playwright."""
    import shutil
    import socket
    import subprocess

    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tomobench", "leaderboard", "serve", "--port", str(port),
                             "--params", str(params_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_healthy(proc, url, timeout_s=120):
            raise RuntimeError(f"the leaderboard at {url} did not come up in 120 s")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1800})

            def load(first: bool) -> float:
                t = time.perf_counter()
                page.goto(url, wait_until="domcontentloaded") if first else page.reload(wait_until="domcontentloaded")
                page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible", timeout=300_000)
                drawn = page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg')
                page.wait_for_function("n => document.querySelectorAll('[data-testid=stVegaLiteChart] canvas, "
                                       "[data-testid=stVegaLiteChart] svg').length >= n", arg=5, timeout=300_000)
                assert drawn.count() >= 5
                return time.perf_counter() - t

            first = load(True)
            warm = [load(False) for _ in range(n_warm)]
            browser.close()
        return first, warm
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def fill_store(store: Store, params, path: Path, n: int) -> None:
    """``n`` synthetic submissions (real reports of ``path``, F1 values perturbed), 100 teams."""
    scored = score_phases(path, "csv", params)
    rng = np.random.default_rng(2)
    teams = [store.team_for_token(store.add_team(f"team {i:03d}")).id for i in range(100)]
    for i in range(n):
        reports = {}
        for phase, (report, flat) in scored.items():
            f1 = float(rng.uniform(0.2, 0.95))
            report = dict(report, f1=f1, per_class={c: dict(v, f1=float(rng.uniform(0, 1)))
                                                     for c, v in report["per_class"].items()})
            reports[phase] = (report, dict(flat, f1=f1))
        store.add_submission(Submission(f"method {i}", params.dataset, team_id=teams[i % 100], runtime_s=10.0 + i,
                                        hardware="1 GPU"), reports)


def sequential_uploads(store: Store, params, data: bytes, n: int) -> list[float]:
    """Latency (s) of each of ``n`` uploads made one after the other (one team each, truth already read)."""
    scorer = ScoringCache(params)
    scorer.get()
    lat = []
    for i in range(n):
        upload = Upload(store.add_team(f"alone {i:03d}"), f"alone {i}", "picks.csv", data)
        t = time.perf_counter()
        submit(store, params, upload, scorer=scorer)
        lat.append(time.perf_counter() - t)
    return lat


def concurrent_uploads(store: Store, params, data: bytes, n: int) -> list[float]:
    """Latency (s) of each of ``n`` uploads started together from ``n`` threads, one team each."""
    scorer = ScoringCache(params)
    scorer.get()                        # a running server has read the truth before (the Submit page's cache)
    tokens = [store.add_team(f"upload {i:03d}") for i in range(n)]
    start, lat, errors = threading.Barrier(n), [0.0] * n, []

    def one(i: int) -> None:
        start.wait()
        t = time.perf_counter()
        try:
            submit(store, params, Upload(tokens[i], f"concurrent {i}", "picks.csv", data), scorer=scorer)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        lat[i] = time.perf_counter() - t

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert scorer.loads == 1, "the truth was read again during the uploads"
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller volumes (a smoke test, not the figures)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores; load average at start {os.getloadavg()[0]:.1f}")
    root = Path(tempfile.mkdtemp(prefix="bench_leaderboard_"))
    shape, n_particles = ((40, 96, 96), 100) if args.quick else ((100, 256, 256), 1000)
    t = time.perf_counter()
    demo.make_dataset(root, n_train=1, n_test=3, shape_zyx=shape, n_particles=n_particles, seed=0)
    demo.write_results(root, {"dog": {"recall": 0.7, "wrong_class": 0.5}, "tm": {"recall": 0.8},
                              "unet": {"recall": 0.9, "wrong_class": 0.1}, "cnn": {"recall": 0.85}}, seed=1)
    print(f"dataset: 3 test tomograms of {shape} voxels, {n_particles} particles each; 4 pipeline baselines "
          f"({time.perf_counter() - t:.1f} s to build)")
    params_file = demo.demo_params_yaml(root, daily_limit=1000, max_file_mb=50)
    params = load_params(params_file)
    store = Store(params.data_dir)
    import_results(store, params)

    cold, warm, rows = render_times(params_file, 10)
    print(f"Leaderboard page, the pipeline's 4 baselines: cold {cold:.2f} s; warm {fmt(warm)} (target <= 1 s)")
    browser = browser_render_times(params_file, 5)
    if browser is None:
        print("(no Chromium / Playwright here: the browser's own drawing of the page is not measured)")
    else:
        print(f"  the same page in Chromium (served, table + 5 charts drawn): first load {browser[0]:.2f} s; "
              f"warm reload {fmt(browser[1])}")

    picks = demo.make_picks(root / "private" / "test", np.random.default_rng(1), recall=0.9, false_positives=0.1)
    path = write_particles(picks, root / "picks.csv", "csv")
    data = path.read_bytes()
    print(f"upload: {len(picks):,} picks, {len(data) / 1e6:.2f} MB CSV")
    t = time.perf_counter()
    fill_store(store, params, path, 1000 - store.counts()["submissions"])
    print(f"stored {store.counts()['submissions']:,} submissions ({time.perf_counter() - t:.1f} s)")
    cold, warm, rows = render_times(params_file, 10)
    print(f"Leaderboard page, {store.counts()['submissions']:,} submissions ({rows:,} table rows): cold {cold:.2f} s; "
          f"warm {fmt(warm)} (target <= 1 s)")
    browser = browser_render_times(params_file, 5)
    if browser is not None:
        print(f"  the same page in Chromium: first load {browser[0]:.2f} s; warm reload {fmt(browser[1])}")

    alone = sequential_uploads(store, params, data, 10)
    print(f"one upload at a time (real submit path): {fmt(alone)}")
    lat = concurrent_uploads(store, params, data, 50)
    print(f"50 concurrent uploads (threads, real submit path, both phases scored and stored): {fmt(lat)}; "
          f"all done in {max(lat):.2f} s (target p95 <= 3 s)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
