"""Every bad upload is refused in one paragraph naming the problem (and the line), storing nothing;
limits are checked before any work; the daily limit is reserved before scoring."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from lb_badfiles import BAD_FILES

import leaderboard.submit as submit_module
from leaderboard.store import Refused
from leaderboard.submit import Upload, check_pick_count, submit


def snapshot(store):
    """Everything a submission could leave behind: rows of every table, every file under the store."""
    files = sorted(str(p.relative_to(store.data_dir)) for p in store.data_dir.rglob("*")
                   if p.name != store.db_path.name and not p.name.startswith(store.db_path.name + "-"))
    reservations = store.read("SELECT COUNT(*) FROM reservations")[0][0]
    return store.counts(), reservations, files


@pytest.fixture
def big_params(params):
    return params.model_copy(update={"max_file_mb": 20.0, "daily_limit": 100})


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_in_one_paragraph_storing_nothing(big_params, store, case):
    name, data, words, line = BAD_FILES[case]
    token = store.add_team("alpha")
    before = snapshot(store)
    with pytest.raises(Refused) as info:
        submit(store, big_params, Upload(token, "m", name, data))
    message = str(info.value)
    assert words in message
    assert "\n" not in message and len(message) < 400 and "Traceback" not in message
    if line is not None:
        assert f"line {line}:" in message
    assert "/tmp" not in message and big_params.data_dir not in message
    assert snapshot(store) == before


def test_a_million_and_one_lines_are_refused_before_parsing(big_params, store):
    """1,000,001 picks (the limit is 1,000,000) in an 11 MB SHREC file: refused from the line count."""
    token = store.add_team("alpha")
    data = b"# header comment\n" + b"1s3x 1 2 3\n" * 1_000_001
    before = snapshot(store)
    t = time.perf_counter()
    with pytest.raises(Refused, match=r"line 1,000,002: pick number 1,000,001 is beyond the limit of 1,000,000"):
        submit(store, big_params, Upload(token, "m", "p.txt", data))
    # refused from the line count, not after parsing (which took 16-17 s); the issue asks under 1 s
    # (0.22 s measured); a timed test only has to tell the two apart, also on a loaded machine
    assert time.perf_counter() - t < 8.0
    assert snapshot(store) == before


@pytest.mark.parametrize("fmt, data, limit, refused", [
    ("shrec", b"a 1 2 3\n" * 5, 5, False),
    ("shrec", b"a 1 2 3\n" * 6, 5, True),
    ("shrec", b"\n# c\n  \n" * 10 + b"a 1 2 3\n" * 5, 5, False),      # blank and comment lines do not count
    ("csv", b"class,x,y,z\n" + b"a,1,2,3\n" * 5, 5, False),             # the header does not count
    ("csv", b"class,x,y,z\n" + b"a,1,2,3\n" * 6, 5, True),
    ("star", b"data_\n\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n_rlnCoordinateZ\n" + b"1 2 3\n" * 5, 5, False),
    ("copick", b'{"points": [' + b",".join([b'{"location": {"x": 1, "y": 2, "z": 3}}'] * 6) + b"]}", 5, True),
])
def test_pick_count_is_checked_from_the_bytes(fmt, data, limit, refused):
    if refused:
        with pytest.raises(Refused, match="limit of 5 picks|the limit is 5 picks"):
            check_pick_count(data, fmt, limit)
    else:
        check_pick_count(data, fmt, limit)


def test_daily_limit_is_reserved_before_scoring(params, store, picks_file, monkeypatch):
    """8 concurrent uploads of one team, limit 3: the scorer runs 3 times, not 8; 3 stored, 5 refused."""
    token = store.add_team("alpha")
    calls, lock = [], threading.Lock()
    real = submit_module._score_data

    def slow_score(*args, **kwargs):
        with lock:
            calls.append(1)
        time.sleep(0.3)             # every upload is in flight at once
        return real(*args, **kwargs)

    monkeypatch.setattr(submit_module, "_score_data", slow_score)
    data = picks_file.read_bytes()
    outcomes = []

    def one(i):
        try:
            outcomes.append(("ok", submit(store, params, Upload(token, f"m{i}", "p.csv", data)).submission_id))
        except Refused as exc:
            outcomes.append(("refused", str(exc)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 3
    assert sorted(kind for kind, _ in outcomes) == ["ok"] * 3 + ["refused"] * 5
    assert all("daily limit reached" in m for kind, m in outcomes if kind == "refused")
    assert store.counts()["submissions"] == 3 and store.read("SELECT COUNT(*) FROM reservations")[0][0] == 0


def test_an_unexpected_error_stores_nothing_and_frees_the_reservation(params, store, picks_file, monkeypatch):
    token = store.add_team("alpha")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the scorer")

    monkeypatch.setattr(submit_module, "_score_data", broken)
    before = snapshot(store)
    for _ in range(params.daily_limit + 1):      # a freed reservation: the bug never eats the daily limit
        with pytest.raises(RuntimeError):
            submit(store, params, Upload(token, "m", "p.csv", picks_file.read_bytes()))
    assert snapshot(store) == before


def test_a_failed_insert_leaves_no_file(params, store, picks_file, monkeypatch):
    token = store.add_team("alpha")

    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")      # storage fault after the file was written

    monkeypatch.setattr(type(store), "_insert_submission", fail)
    before = snapshot(store)
    with pytest.raises(Refused, match="read-only mode"):
        submit(store, params, Upload(token, "m", "p.csv", picks_file.read_bytes()))
    monkeypatch.undo()
    assert store.read_only
    assert snapshot(store)[0] == before[0] and snapshot(store)[2] == before[2]


def test_the_app_apologises_with_an_incident_id_in_the_log(app_factory, store, picks_file, monkeypatch):
    from test_leaderboard_app import _fill_and_submit, shown

    from leaderboard.ui import LOG

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    LOG.addHandler(handler)
    try:
        token = store.add_team("alpha")
        at = app_factory("Submit")
        before = snapshot(store)
        monkeypatch.setattr(submit_module, "_score_data", lambda *a, **k: 1 / 0)
        _fill_and_submit(at, token, "m", "p.csv", picks_file.read_bytes())
    finally:
        LOG.removeHandler(handler)
    assert not at.exception and len(at.error) == 1
    text = shown(at.error[0])
    assert text.startswith("Sorry, something went wrong on our side") and "ZeroDivisionError" not in text
    incident = text.split("(incident ")[1][:8]
    assert len(records) == 1 and incident in records[0].getMessage() and records[0].exc_info[0] is ZeroDivisionError
    assert snapshot(store) == before


def test_a_page_that_fails_shows_an_apology_not_a_traceback(app_factory, monkeypatch):
    from test_leaderboard_app import shown

    import leaderboard.page_leaderboard as page
    from leaderboard.ui import LOG

    def broken(params, store):
        raise KeyError("a bug in the page")

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    LOG.addHandler(handler)
    monkeypatch.setattr(page, "render", broken)
    try:
        at = app_factory()
    finally:
        LOG.removeHandler(handler)
    assert not at.exception and len(at.error) == 1
    text = shown(at.error[0])
    assert "Sorry, something went wrong on our side while showing the Leaderboard page (incident " in text
    assert "KeyError" not in text and "a bug in the page" not in text
    assert text.split("(incident ")[1][:8] in records[0].getMessage()
