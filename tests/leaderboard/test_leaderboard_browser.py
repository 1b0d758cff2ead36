"""A real browser: ``tomobench leaderboard serve`` on 127.0.0.1, opened in Debian's headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from leaderboard.exchange import import_results

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = Path(os.environ.get("TOMOBENCH_SCREENSHOT_DIR", ""))

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed "
                                 "(run 'make browser' as root, or apt-get install chromium)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


@pytest.fixture
def server(params, params_file, store, tmp_path):
    import_results(store, params)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tomobench", "leaderboard", "serve", "--port", str(port),
                             "--address", "127.0.0.1", "--params", str(params_file)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, proc)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def test_table_and_charts_render_in_chromium(server, dataset, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.goto(server, wait_until="domcontentloaded", timeout=60_000)
            page.get_by_text("Leaderboard", exact=True).first.wait_for(timeout=60_000)
            # the table: Streamlit draws dataframes with glide-data-grid on a canvas
            grid = page.locator('[data-testid="stDataFrame"]').first
            grid.wait_for(state="visible", timeout=60_000)
            assert grid.bounding_box()["height"] > 50
            # the charts: vega-embed renders each Altair chart to a canvas or an SVG
            charts = page.locator('[data-testid="stVegaLiteChart"]')
            charts.first.wait_for(state="visible", timeout=60_000)
            page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg') \
                .first.wait_for(state="visible", timeout=60_000)
            assert charts.count() >= 4
            page.wait_for_timeout(1500)
            shot = (SCREENSHOT_DIR if str(SCREENSHOT_DIR) not in ("", ".") else tmp_path) / "leaderboard.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            # the table's content is in the page's accessible grid (glide renders an ARIA table)
            # the table's cells are in glide-data-grid's accessible <table>: rank 1 is the best baseline
            results = pd.read_parquet(dataset / "results.parquet").sort_values("f1", ascending=False)
            table = page.locator('[data-testid="stDataFrame"]').first
            header = [h.strip() for h in table.locator('[role="columnheader"]').all_text_contents()]
            method_col = header.index("method")
            best = table.locator(f'[data-testid="glide-cell-{method_col}-0"]').inner_text().strip()
            assert best == results["method"].iloc[0]
            cells = " ".join(table.locator('[role="gridcell"]').all_text_contents())
            assert all(m in cells for m in results["method"])
        finally:
            browser.close()
