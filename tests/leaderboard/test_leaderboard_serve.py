"""``tomobench leaderboard serve``: a busy port fails at once; SIGTERM and SIGINT stop the Streamlit child."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leaderboard.cli import streamlit_command
from leaderboard.config import LeaderboardParams

ROOT = Path(__file__).resolve().parents[2]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_streamlit_command_hides_error_details_and_matches_the_upload_limit():
    cmd = streamlit_command(Path("app.py"), LeaderboardParams(max_file_mb=20), "127.0.0.1", 8501)
    assert cmd[cmd.index("--client.showErrorDetails") + 1] == "none"
    assert cmd[cmd.index("--server.maxUploadSize") + 1] == "20"      # the page says 20 MB: so does the uploader
    cmd = streamlit_command(Path("app.py"), LeaderboardParams(max_file_mb=2.5), "127.0.0.1", 8501)
    assert cmd[cmd.index("--server.maxUploadSize") + 1] == "3"


def test_busy_port_fails_early_without_claiming_to_serve(params_file):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "tomobench", "leaderboard", "serve", "--port", str(port),
                               "--params", str(params_file)], env=_env(), capture_output=True, text=True,
                              timeout=60)
        elapsed = time.perf_counter() - t
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "--port" in proc.stderr
    assert "leaderboard on http" not in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 20


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_streamlit_child(params_file, tmp_path, sig):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tomobench", "leaderboard", "serve", "--port", str(port),
                             "--params", str(params_file)], env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "leaderboard on http" not in (tmp_path / "serve.log").read_text():
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        children = _children(proc.pid)
        assert children, "serve started no Streamlit child"
        proc.send_signal(sig)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.2)
        assert not any(_alive(c) for c in children), "the Streamlit child outlived serve"
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # TIME_WAIT of closed connections is ok
            s.bind(("127.0.0.1", port))          # nobody listens on the port any more
            s.listen()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
