"""Storage faults: a read-only copy of the store and a tiny full file system (tmpfs with size=).

The app goes to read-only mode with a banner, the leaderboard stays readable, uploads are refused
with a clear message and nothing is written. The mounts need root (skipped otherwise, except the
read-only copy, which a non-root user makes with chmod).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_leaderboard_app import shown
from test_leaderboard_refusals import snapshot

import leaderboard
from leaderboard.config import ENV_DATA_DIR, ENV_PARAMS
from leaderboard.exchange import import_results, leaderboard_table
from leaderboard.store import Refused, Store
from leaderboard.submit import Upload, submit

APP = str(Path(leaderboard.__file__).with_name("app.py"))


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _populated(params, picks_file) -> Store:
    store = Store(params.data_dir)
    import_results(store, params)
    token = store.add_team("alpha")
    submit(store, params, Upload(token, "first", "p.csv", picks_file.read_bytes()))
    return store


@pytest.fixture
def read_only_copy(params, picks_file, tmp_path):
    """(params of a read-only copy of a populated store, a valid token of it)."""
    _populated(params, picks_file)
    token = Store(params.data_dir).replace_token("alpha")
    src, dst = tmp_path / "copy", tmp_path / "ro"
    shutil.copytree(params.data_dir, src)
    dst.mkdir()
    if os.geteuid() == 0:
        if not (_mount("--bind", str(src), str(dst)) and _mount("-o", "remount,bind,ro", str(dst))):
            _umount(dst)
            pytest.skip("cannot make a read-only bind mount here")
    else:
        dst.rmdir()
        shutil.copytree(src, dst)
        for p in [dst, *dst.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    yield params.model_copy(update={"data_dir": str(dst)}), token
    if os.geteuid() == 0:
        _umount(dst)
    else:
        for p in [dst, *dst.rglob("*")]:
            p.chmod(p.stat().st_mode | 0o200)


@pytest.fixture
def full_store(params, picks_file, tmp_path):
    """(params of a populated store on a 4 MiB tmpfs that is then filled up, a valid token)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        params = params.model_copy(update={"data_dir": str(mnt / "store")})
        store = _populated(params, picks_file)
        token = store.replace_token("alpha")
        _fill(mnt)
        yield params, token
    finally:
        _umount(mnt)


def _fill(mnt: Path) -> None:
    fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)     # fill the file system to the last byte
    for chunk in (65536, 1):
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)
    assert shutil.disk_usage(mnt).free == 0


def _check_read_only_mode(params, token, picks_file, tmp_path, monkeypatch) -> None:
    store = Store(params.data_dir)
    assert store.read_only and store.read_only_reason
    before = snapshot(store)
    board = leaderboard_table(store, "demo", "public")
    assert sorted(board["method"]) == ["dog", "first", "tm"]
    with pytest.raises(Refused, match="read-only mode") as info:
        submit(store, params, Upload(token, "second", "p.csv", picks_file.read_bytes()))
    assert "\n" not in str(info.value) and "nothing was stored" in str(info.value)
    assert snapshot(store) == before

    path = tmp_path / "ro_params.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"leaderboard": params.model_dump()}), encoding="utf-8")
    monkeypatch.setenv(ENV_PARAMS, str(path))
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Read-only mode" in shown(at.warning[0])
    table = [df.value for df in at.dataframe if "rank" in df.value.columns][0]
    assert sorted(table["method"]) == ["dog", "first", "tm"]
    at.sidebar.radio(key="page").set_value("Submit").run()
    assert "Uploads are closed for now" in shown(at.error[0])
    at.text_input(key="token").input(token)
    at.text_input(key="method").input("second")
    at.file_uploader(key="file").set_value(("p.csv", picks_file.read_bytes(), "text/csv"))
    at.button(key="submit").click().run()
    assert not at.exception and not at.success
    assert any("read-only mode" in shown(e) and "nothing was stored" in shown(e) for e in at.error)
    assert snapshot(Store(params.data_dir)) == before


def test_read_only_copy_of_the_store(read_only_copy, picks_file, tmp_path, monkeypatch):
    params, token = read_only_copy
    _check_read_only_mode(params, token, picks_file, tmp_path, monkeypatch)


def test_full_file_system(full_store, picks_file, tmp_path, monkeypatch):
    params, token = full_store
    _check_read_only_mode(params, token, picks_file, tmp_path, monkeypatch)


def test_a_running_app_whose_disk_fills_refuses_uploads(params, picks_file, tmp_path):
    """The Store was opened while the disk had room; it fills; the next upload is refused, nothing stored."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        params = params.model_copy(update={"data_dir": str(mnt / "store")})
        store = _populated(params, picks_file)
        token = store.replace_token("alpha")
        assert not store.read_only
        free = shutil.disk_usage(mnt).free
        (mnt / "filler").write_bytes(b"\0" * (free - 200_000))    # room left, but under the 1 MiB margin
        before = snapshot(store)
        with pytest.raises(Refused, match=r"read-only mode \(the disk is full\)"):
            submit(store, params, Upload(token, "second", "p.csv", picks_file.read_bytes()))
        assert snapshot(store) == before
        assert sorted(leaderboard_table(store, "demo", "final")["method"]) == ["dog", "first", "tm"]
    finally:
        _umount(mnt)
