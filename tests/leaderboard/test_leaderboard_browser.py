"""A real browser: ``tomobench leaderboard serve`` on 127.0.0.1, opened in Debian's headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from leaderboard.cli import wait_healthy
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
    if not wait_healthy(proc, url, timeout_s=timeout):
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
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


# ---------------------------------------------------------------- issue 18: bad uploads and the organizer page

@pytest.fixture
def big_server(params, store, tmp_path):
    """``serve`` with a 20 MB upload limit (the bad files include a 5 MB one); (url, params, log path)."""
    import yaml

    params = params.model_copy(update={"max_file_mb": 20.0, "daily_limit": 100})
    path = tmp_path / "big_params.yaml"
    path.write_text(yaml.safe_dump({"leaderboard": params.model_dump()}), encoding="utf-8")
    import_results(store, params)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    log_path = tmp_path / "big_server.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tomobench", "leaderboard", "serve", "--port", str(port),
                             "--address", "127.0.0.1", "--params", str(path)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, proc)
        yield url, params, log_path
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _idle(page) -> None:
    """Wait until the app is not running a script (Streamlit's status widget is gone)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)


def _submit_in_browser(page, url: str, token: str, name: str, data: bytes) -> str:
    """Open the Submit page in a fresh session, upload ``data`` as ``name``; the text of the alert shown."""
    page.goto(url + "/?page=Submit", wait_until="domcontentloaded", timeout=60_000)
    page.get_by_label("Team token").wait_for(timeout=60_000)
    _idle(page)
    page.get_by_label("Team token").fill(token)
    page.get_by_label("Method name").fill("browser test")
    page.get_by_label("Method name").press("Tab")
    _idle(page)
    from playwright.sync_api import expect

    for attempt in range(6):        # a rerun that replaces the uploader while the file is set loses it: again
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
            files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}])
        try:
            expect(page.locator('[data-testid="stFileUploader"]')).to_contain_text(name, timeout=10_000)
            break
        except AssertionError:
            if attempt == 5:
                raise
    _idle(page)
    page.get_by_role("button", name="Submit").click()
    alert = page.locator('[data-testid="stAlertContentError"], [data-testid="stAlertContentSuccess"]').first
    alert.wait_for(timeout=120_000)
    return alert.inner_text()


def test_nine_bad_uploads_are_refused_in_chromium(big_server, store):
    from lb_badfiles import BAD_FILES
    from playwright.sync_api import sync_playwright
    from test_leaderboard_refusals import snapshot

    url, params, log_path = big_server
    token = store.add_team("browser")
    before = snapshot(store)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1400})
            for case, (name, data, words, line) in BAD_FILES.items():
                text = _submit_in_browser(page, url, token, name, data)
                assert text.startswith("Submission refused, nothing was stored:"), (case, text)
                assert words in text, (case, text)
                if line is not None:
                    assert f"line {line}:" in text, (case, text)
                body = page.locator("body").inner_text()
                assert page.locator('[data-testid="stException"]').count() == 0, case
                assert "Traceback" not in body and "site-packages" not in body and str(ROOT) not in body, case
                assert "\n" not in text.strip(), (case, text)
        finally:
            browser.close()
    assert snapshot(store) == before
    assert "Traceback" not in log_path.read_text()


def test_organizer_page_in_chromium(big_server, store, tmp_path):
    from playwright.sync_api import sync_playwright

    url, params, _ = big_server
    organizer = store.set_organizer_token()
    for name in ("Team Alpha", "Team Beta"):
        store.add_team(name)
    store.audit("cli", "team add", "Team Alpha")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(url + "/?page=Organizer", wait_until="domcontentloaded", timeout=60_000)
            page.get_by_label("Organizer token").fill(organizer)
            page.get_by_label("Organizer token").press("Enter")
            page.get_by_text("Teams and tokens", exact=True).wait_for(timeout=60_000)
            page.get_by_role("button", name="Reveal the final ranking").click()
            page.get_by_text("reveal: final phase, blind off").wait_for(timeout=60_000)
            page.get_by_text("Audit log", exact=True).wait_for(timeout=60_000)
            page.locator('[data-testid="stDataFrame"]').last.wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(1500)
            shot = (SCREENSHOT_DIR if str(SCREENSHOT_DIR) not in ("", ".") else tmp_path) / "leaderboard_organizer.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert page.locator('[data-testid="stDownloadButton"]').count() == 2
        finally:
            browser.close()
    from leaderboard.phases import current_phase

    assert current_phase(store) == "final" and store.audit_log().iloc[0]["action"] == "reveal"
