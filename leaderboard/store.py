"""The submission store: SQLite in WAL mode plus content-addressed files.

Why SQLite: one file under the data directory, transactional, safe for many
reader processes and one writer at a time (WAL mode: readers never block the
writer), no server to run. Every write happens inside ``BEGIN IMMEDIATE`` so a
check-then-insert (the daily limit) is atomic across processes; a busy
database is waited for (``busy_timeout``), never an error.

Layout of ``data_dir``::

    leaderboard.sqlite          teams, submissions, reports, settings, reservations, audit log
    files/ab/abcdef...          uploaded files, named by their SHA-256 (never by the user's name)

A store that cannot be written (a read-only file system or directory, a full
disk) opens in **read-only mode**: reads use a read-only (or, when even the
WAL index cannot be created, an immutable) connection, and every write raises
:class:`StoreReadOnly` with a message a participant understands. The app shows
a banner and keeps the leaderboard readable.

Team tokens are random (192 bits) and only their SHA-256 is stored; a token is
shown once, when the team is created (or its token is replaced).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, cast
from urllib.parse import quote

import pandas as pd

from tomobench.errors import InputError

DB_NAME = "leaderboard.sqlite"
TOKEN_PREFIX = "tb_"
_TEAM_NAME = re.compile(r"^[\w][\w .\-]{0,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS teams (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY, size_bytes INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES teams(id), method TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '', url TEXT NOT NULL DEFAULT '', hardware TEXT NOT NULL DEFAULT '',
    runtime_s REAL, filename TEXT NOT NULL DEFAULT '', fmt TEXT, file_sha256 TEXT REFERENCES files(sha256),
    dataset TEXT NOT NULL, is_baseline INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL,
    timing_json TEXT NOT NULL DEFAULT '{}', created_at TEXT NOT NULL, day TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS submissions_team_day ON submissions(team_id, day);
CREATE TABLE IF NOT EXISTS reports (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    phase TEXT NOT NULL, report_json TEXT NOT NULL, summary_json TEXT NOT NULL, f1 REAL,
    scorer_version TEXT NOT NULL DEFAULT '', scored_at TEXT NOT NULL,
    PRIMARY KEY (submission_id, phase));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL, day TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
"""
TABLES = {"teams", "files", "submissions", "reports", "settings", "reservations", "audit"}
RESERVATION_TTL_S = 900          # a reservation older than this belongs to a crashed upload and no longer counts
MIN_FREE_BYTES = 1 << 20         # refuse uploads when less than this (plus the upload) is free on the store's disk
REVOKED_PREFIX = "revoked:"      # token_hash of a revoked team: never the SHA-256 of any token
ORGANIZER_KEY = "organizer_token_hash"
_FAULT_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}
_FAULT_WORDS = ("readonly", "read-only", "disk is full", "disk i/o error", "unable to open database file",
                "attempt to write", "database or disk is full")
READ_ONLY_MESSAGE = ("the leaderboard is in read-only mode ({reason}): uploads cannot be stored right now and "
                     "nothing was stored; the organizers have been told in the server log, try again later")


class WriteCoordinator:
    """The writers of each database file in this process: a queue to write in turn, a connection held open.

    * The queue. SQLite's write lock belongs to a connection: threads that collide on it sleep in
      its busy handler (1 ms, growing to 100 ms per try) and may keep sleeping long after it is
      free. Queued on a lock here, a thread gets its turn the moment the previous write ends.
      Other processes still meet SQLite's own lock (``BEGIN IMMEDIATE``, ``busy_timeout``), so the
      atomicity of a check-then-insert is unchanged.
    * The held connection. When the last connection to a WAL database closes, SQLite checkpoints
      the WAL into the database (with an fsync) and deletes it, and the next commit creates it
      again: about 25 ms per write transaction on this project's machine instead of about 1 ms.
      One idle connection per file (it holds no transaction, so it blocks no checkpoint) keeps the
      WAL in place; SQLite still checkpoints it every 1,000 pages.

    Process-wide by nature (SQLite's locks and WAL are per file, and every :class:`Store` of the
    file shares them), hence the one instance :data:`WRITERS`. At most ``max_held`` files are held
    open (a test run creates hundreds of stores); a file replaced under the same path is re-held.
    """

    def __init__(self, max_held: int = 8) -> None:
        self.max_held = max_held
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._held: OrderedDict[str, tuple[tuple[int, int], sqlite3.Connection]] = OrderedDict()

    def lock_for(self, db_path: Path) -> threading.RLock:
        """The lock of the database file ``db_path`` (re-entrant: one thread may nest writes)."""
        key = os.path.realpath(db_path)
        with self._guard:
            return self._locks.setdefault(key, threading.RLock())

    def hold_open(self, db_path: Path) -> None:
        """Keep an idle connection to ``db_path`` open (a no-op when one is held; never raises)."""
        key = os.path.realpath(db_path)
        try:
            stat = os.stat(key)
        except OSError:
            return
        ident = (stat.st_dev, stat.st_ino)
        with self._guard:
            held = self._held.get(key)
            if held is not None and held[0] == ident:
                self._held.move_to_end(key)
                return
            if held is not None:
                held[1].close()
                del self._held[key]
            try:
                con = sqlite3.connect(key, isolation_level=None, check_same_thread=False)
                con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()    # opens the WAL index
            except sqlite3.Error:
                return
            self._held[key] = (ident, con)
            while len(self._held) > self.max_held:
                self._held.popitem(last=False)[1][1].close()


WRITERS = WriteCoordinator()     # one per process, as SQLite's write lock and WAL are per file


class Refused(Exception):
    """A submission (or organizer action) refused for a reason the user can fix; nothing was stored."""


class StoreReadOnly(Refused):
    """The store cannot be written (read-only or full file system); nothing was stored."""


def storage_fault(exc: BaseException) -> str | None:
    """A short reason when ``exc`` means the store's disk cannot be written, else None."""
    if isinstance(exc, OSError) and exc.errno in _FAULT_ERRNOS:
        return "the disk is full" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else \
            "the store's file system is read-only"
    if isinstance(exc, sqlite3.DatabaseError):          # OperationalError included
        text = str(exc).lower()
        if "full" in text:
            return "the disk is full"
        if any(w in text for w in _FAULT_WORDS):
            return "the store cannot be written"
    return None


@dataclass(frozen=True)
class Team:
    """A team: its row id and its name."""

    id: int
    name: str


@dataclass
class Submission:
    """One submission's metadata (``file_sha256`` set by :meth:`Store.put_file`)."""

    method: str
    dataset: str
    source: str = "upload"               # upload | pipeline
    team_id: int | None = None
    description: str = ""
    url: str = ""
    hardware: str = ""
    runtime_s: float | None = None
    filename: str = ""
    fmt: str | None = None
    file_sha256: str | None = None
    is_baseline: bool = False
    timing: dict = field(default_factory=dict)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest of a token, surrounding whitespace ignored (what the store keeps).

    Parameters
    ----------
    token : str
        A team's or the organizer's token.
    """
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def summarise(report: dict, flat: dict) -> dict:
    """The small part of a report the leaderboard table and heatmap need (flat row + per-class F1)."""
    out = {k: (None if v is None else (float(v) if isinstance(v, (int, float)) else v)) for k, v in flat.items()}
    out["per_class_f1"] = {str(c): float(v.get("f1", 0.0)) for c, v in (report.get("per_class") or {}).items()}
    return out


class Store:
    """The leaderboard's database; cheap to create (one per process / Streamlit session).

    ``read_only`` is True (and ``read_only_reason`` says why) when the store cannot be written;
    reads still work, writes raise :class:`StoreReadOnly`.
    """

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "files"
        self.db_path = self.data_dir / DB_NAME
        self._writer_lock = WRITERS.lock_for(self.db_path)
        self.read_only = False
        self.read_only_reason = ""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._probe_disk()
            self._ensure_schema()
            WRITERS.hold_open(self.db_path)
        except (OSError, sqlite3.Error) as exc:
            reason = storage_fault(exc)
            if reason is None:
                raise
            self._go_read_only(reason)
            if not self.db_path.is_file():
                raise InputError(f"the leaderboard store does not exist and cannot be created ({reason})",
                                 self.data_dir) from None

    def _probe_disk(self) -> None:
        """Write and remove a small file: a full or read-only disk fails here, before any upload.

        No fsync (this runs on every page view): file systems reserve the space at write time.
        """
        fd, tmp = tempfile.mkstemp(dir=self.data_dir, prefix=".probe-")
        try:
            with os.fdopen(fd, "wb", buffering=0) as fh:
                fh.write(b"\0" * 4096)
        finally:
            os.unlink(tmp)

    def _ensure_schema(self) -> None:
        con = self.connect()
        try:
            have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not TABLES <= have:      # a new store, or one from before a table was added
                con.executescript(SCHEMA)
        finally:
            con.close()

    def _go_read_only(self, reason: str) -> None:
        if not self.read_only:      # the server log tells the organizers (stderr of ``serve``)
            logging.getLogger("tomobench.leaderboard").warning("store %s in read-only mode: %s", self.data_dir, reason)
        self.read_only = True
        self.read_only_reason = reason

    def check_writable(self, need_bytes: int = 0) -> None:
        """Raise :class:`StoreReadOnly` unless ``need_bytes`` (plus a margin) can be written now."""
        if not self.read_only:
            try:
                free = shutil.disk_usage(self.data_dir).free
            except OSError as exc:
                free, reason = 0, storage_fault(exc) or "the store cannot be read"
            else:
                reason = "the disk is full"
            if free < need_bytes + MIN_FREE_BYTES:
                self._go_read_only(reason)
        if self.read_only:
            raise StoreReadOnly(READ_ONLY_MESSAGE.format(reason=self.read_only_reason))

    # ------------------------------------------------------------------ connections

    def connect(self) -> sqlite3.Connection:
        """A read-write connection (WAL mode); in read-only mode, see :meth:`_connect_read_only`."""
        if self.read_only:
            return self._connect_read_only()
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)   # busy_timeout: wait up to 60 s
        try:
            mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise RuntimeError(f"SQLite refused WAL mode ({mode}) for {self.db_path}")
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            con.close()
            raise
        return con

    def _connect_read_only(self) -> sqlite3.Connection:
        """``mode=ro`` when SQLite can still use the WAL index; else ``immutable=1`` (nobody can write anyway)."""
        uri = "file:" + quote(str(self.db_path.resolve()))
        for flags in ("?mode=ro", "?mode=ro&immutable=1"):
            con = sqlite3.connect(uri + flags, uri=True, timeout=60, isolation_level=None)
            try:
                con.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return con
            except sqlite3.Error:
                con.close()
        raise InputError("the leaderboard store cannot be opened, not even read-only", self.db_path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on any error.

        A storage fault (read-only or full disk) puts the store in read-only mode and raises
        :class:`StoreReadOnly`.
        """
        if self.read_only:
            raise StoreReadOnly(READ_ONLY_MESSAGE.format(reason=self.read_only_reason))
        with self._writer_lock:         # this process's writers queue here, not in SQLite's busy handler
            yield from self._transaction()

    def _transaction(self) -> Iterator[sqlite3.Connection]:
        con = None
        try:
            con = self.connect()
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException as exc:
            if con is not None and con.in_transaction:
                try:
                    con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            reason = storage_fault(exc) if isinstance(exc, (OSError, sqlite3.Error)) else None
            if reason is not None:
                self._go_read_only(reason)
                raise StoreReadOnly(READ_ONLY_MESSAGE.format(reason=reason)) from exc
            raise
        finally:
            if con is not None:
                con.close()

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        """Run a read-only query; a storage fault switches the store to read-only mode and retries.

        Parameters
        ----------
        sql : str
            An SQL query with ``?`` placeholders.
        args : tuple
            The placeholders' values.

        Returns
        -------
        list of sqlite3.Row
            All rows of the result.
        """
        try:
            con = self.connect()
        except (OSError, sqlite3.Error) as exc:
            reason = storage_fault(exc)
            if reason is None or self.read_only:
                raise
            self._go_read_only(reason)       # e.g. the WAL index cannot be created on a full disk
            con = self.connect()
        con.row_factory = sqlite3.Row
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            reason = storage_fault(exc)
            if reason is None or self.read_only:
                raise
            self._go_read_only(reason)
            return self.read(sql, args)
        finally:
            con.close()

    # ------------------------------------------------------------------ teams

    def add_team(self, name: str) -> str:
        """Create a team; return its token (shown once: only its hash is stored)."""
        name = name.strip()
        if not _TEAM_NAME.match(name):
            raise InputError(f"team name {name!r} is not allowed: 1-64 letters, digits, spaces, '.', '-' or '_', "
                             f"starting with a letter or digit")
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        try:
            with self.transaction() as con:
                con.execute("INSERT INTO teams (name, token_hash, created_at) VALUES (?, ?, ?)",
                            (name, hash_token(token), utc_now().isoformat()))
        except sqlite3.IntegrityError:
            raise InputError(f"a team named {name!r} exists already; use 'team token {name}' to replace "
                             f"its token") from None
        return token

    def replace_token(self, name: str) -> str:
        """Issue a new token for a team (the old one stops working); return it (shown once).

        Parameters
        ----------
        name : str
            The team's name; an unknown name raises :class:`~tomobench.errors.InputError`.
        """
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        with self.transaction() as con:
            cur = con.execute("UPDATE teams SET token_hash = ? WHERE name = ?", (hash_token(token), name))
            if cur.rowcount != 1:
                raise InputError(f"no team named {name!r}")
        return token

    def revoke_token(self, name: str) -> None:
        """Make a team's token invalid (its submissions stay); :meth:`replace_token` issues a new one."""
        with self.transaction() as con:
            cur = con.execute("UPDATE teams SET token_hash = ? WHERE name = ?",
                              (REVOKED_PREFIX + secrets.token_hex(16), name))
            if cur.rowcount != 1:
                raise InputError(f"no team named {name!r}")

    def set_organizer_token(self) -> str:
        """Issue the organizer token (replacing any earlier one); only its hash is stored."""
        token = "tbo_" + secrets.token_urlsafe(24)
        self.set_setting(ORGANIZER_KEY, hash_token(token))
        return token

    def is_organizer(self, token: str | None) -> bool:
        """Whether ``token`` is the organizer token (compared in constant time, by hash).

        Parameters
        ----------
        token : str or None
            The token entered; None or blank is never the organizer's.
        """
        stored = self.get_setting(ORGANIZER_KEY)
        return bool(token and token.strip() and stored and secrets.compare_digest(stored, hash_token(token)))

    def team_for_token(self, token: str | None) -> Team | None:
        """The team a token belongs to, None when it belongs to none (or was revoked).

        Parameters
        ----------
        token : str or None
            The token entered; None or blank gives None.
        """
        if not token or not token.strip():
            return None
        rows = self.read("SELECT id, name FROM teams WHERE token_hash = ?", (hash_token(token),))
        return Team(int(rows[0]["id"]), rows[0]["name"]) if rows else None

    def teams(self) -> pd.DataFrame:
        """All teams by name: ``id, name, created_at, revoked`` (bool) and ``submissions`` (count)."""
        rows = self.read("SELECT t.id, t.name, t.created_at, t.token_hash LIKE ? AS revoked, "
                         "COUNT(s.id) AS submissions FROM teams t LEFT JOIN submissions s ON s.team_id = t.id "
                         "GROUP BY t.id ORDER BY t.name", (REVOKED_PREFIX + "%",))
        df = pd.DataFrame([dict(r) for r in rows], columns=["id", "name", "created_at", "revoked", "submissions"])
        df["revoked"] = df["revoked"].astype(bool)
        return df

    # ------------------------------------------------------------------ files

    def file_path(self, sha256: str) -> Path:
        """Where the content-addressed file with this digest lives (``files/<first 2 hex>/<sha256>``).

        Parameters
        ----------
        sha256 : str
            A lower-case SHA-256 hex digest (64 characters); anything else raises ValueError.
        """
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError(f"not a SHA-256 digest: {sha256!r}")
        return self.files_dir / sha256[:2] / sha256

    def put_file(self, data: bytes) -> str:
        """Store bytes under their SHA-256 (atomic rename; storing the same bytes twice is a no-op)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.file_path(sha)
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)       # a full disk leaves no partial file behind
                _remove_empty(path.parent, self.data_dir)
                raise
        return sha

    def _write_file(self, data: bytes) -> tuple[str, Path | None]:
        """Like :meth:`put_file`; also returns the path when this call created it (to undo on failure)."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.file_path(sha)
        if path.is_file():
            return sha, None
        self.put_file(data)
        return sha, path

    # ------------------------------------------------------------------ reservations (the daily limit)

    def reserve(self, team_id: int, daily_limit: int, now: datetime | None = None) -> int:
        """Reserve one of the team's ``daily_limit`` submissions of today (UTC), atomically, before scoring.

        Submissions and live reservations of the day count; raises :class:`Refused` when none is left.
        Consume the reservation with :meth:`add_submission` or give it back with :meth:`release`.
        """
        now = now or utc_now()
        with self.transaction() as con:
            if self.count_today(team_id, now, con) >= daily_limit:
                raise Refused(f"daily limit reached: {daily_limit} submissions per team per UTC day; "
                              f"try again tomorrow")
            cur = con.execute("INSERT INTO reservations (team_id, day, created_at) VALUES (?, ?, ?)",
                              (team_id, now.date().isoformat(), now.isoformat()))
            return int(cast(int, cur.lastrowid))     # an INSERT always sets it

    def release(self, reservation: int) -> None:
        """Give a reservation back (a no-op once :meth:`add_submission` consumed it)."""
        if self.read_only:
            return                      # it expires after RESERVATION_TTL_S
        try:
            with self.transaction() as con:
                con.execute("DELETE FROM reservations WHERE id = ?", (reservation,))
        except StoreReadOnly:
            pass

    # ------------------------------------------------------------------ submissions

    def count_today(self, team_id: int, now: datetime | None = None, con: sqlite3.Connection | None = None) -> int:
        """A team's submissions plus live reservations on ``now``'s UTC day (what the daily limit counts).

        Parameters
        ----------
        team_id : int
            The team's row id.
        now : datetime, optional
            The time that sets the day (default: now); reservations older than ``RESERVATION_TTL_S`` have expired.
        con : sqlite3.Connection, optional
            An open transaction to count in (so the count and an insert are atomic); default: a fresh read.
        """
        now = now or utc_now()
        day, stale = now.date().isoformat(), (now.timestamp() - RESERVATION_TTL_S)
        stale_iso = datetime.fromtimestamp(stale, timezone.utc).isoformat()
        sql = ("SELECT (SELECT COUNT(*) FROM submissions WHERE team_id = ? AND day = ?) + "
               "(SELECT COUNT(*) FROM reservations WHERE team_id = ? AND day = ? AND created_at > ?)")
        args = (team_id, day, team_id, day, stale_iso)
        if con is not None:
            return int(con.execute(sql, args).fetchone()[0])
        return int(self.read(sql, args)[0][0])

    def add_submission(self, sub: Submission, reports: dict[str, tuple[dict, dict]], *,
                       daily_limit: int | None = None, scorer_version: str = "",
                       now: datetime | None = None, reservation: int | None = None,
                       data: bytes | None = None) -> int:
        """Insert a submission and its reports (phase -> (report, flat row)) in one transaction.

        ``reservation`` (from :meth:`reserve`) is consumed; without one, ``daily_limit`` is checked
        here, atomically with the insert (raises :class:`Refused`, storing nothing). ``data``, the
        uploaded bytes, is written (content-addressed) inside the same transaction: a failure
        removes a file this call created, so a refused or failed submission leaves no file behind.
        """
        now = now or utc_now()
        created: Path | None = None
        try:
            with self.transaction() as con:
                held = reservation is not None and con.execute(
                    "DELETE FROM reservations WHERE id = ?", (reservation,)).rowcount == 1
                if not held and daily_limit is not None and sub.team_id is not None:
                    if self.count_today(sub.team_id, now, con) >= daily_limit:
                        raise Refused(f"daily limit reached: {daily_limit} submissions per team per UTC day; "
                                      f"try again tomorrow")
                try:
                    if data is not None:
                        sub.file_sha256, created = self._write_file(data)
                    sub_id = self._insert_submission(con, sub, reports, scorer_version, now)
                except BaseException:
                    self._unlink_created(created)       # under the write lock: no other upload sees it
                    created = None
                    raise
        except BaseException:
            self._unlink_created(created)               # the commit itself failed
            raise
        return sub_id

    def _unlink_created(self, path: Path | None) -> None:
        if path is not None:
            path.unlink(missing_ok=True)
            _remove_empty(path.parent, self.data_dir)

    def _insert_submission(self, con: sqlite3.Connection, sub: Submission, reports: dict[str, tuple[dict, dict]],
                           scorer_version: str, now: datetime) -> int:
        if sub.file_sha256:
            self._register_file(con, sub.file_sha256, now)
        cur = con.execute(
            "INSERT INTO submissions (team_id, method, description, url, hardware, runtime_s, filename, fmt, "
            "file_sha256, dataset, is_baseline, source, timing_json, created_at, day) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sub.team_id, sub.method, sub.description, sub.url, sub.hardware, sub.runtime_s, sub.filename,
             sub.fmt, sub.file_sha256, sub.dataset, int(sub.is_baseline), sub.source,
             json.dumps(sub.timing or {}), now.isoformat(), now.date().isoformat()))
        sub_id = int(cast(int, cur.lastrowid))     # an INSERT always sets it
        for phase, (report, flat) in reports.items():
            self._put_report(con, sub_id, phase, report, flat, scorer_version, now)
        return sub_id

    def _register_file(self, con: sqlite3.Connection, sha256: str, now: datetime) -> None:
        """Record a file stored by :meth:`put_file` (once; the same bytes again are a no-op)."""
        con.execute("INSERT OR IGNORE INTO files (sha256, size_bytes, created_at) VALUES (?, ?, ?)",
                    (sha256, self.file_path(sha256).stat().st_size, now.isoformat()))

    def set_report(self, sub_id: int, phase: str, report: dict, flat: dict, scorer_version: str = "") -> None:
        """Store (or replace) one phase's report of a submission.

        Parameters
        ----------
        sub_id : int
            The submission's row id.
        phase : str
            The phase scored (``public`` or ``final``).
        report : dict
            The scorer's full report (stored as JSON).
        flat : dict
            Its flat row (overall figures); summarised for the table with :func:`summarise`.
        scorer_version : str
            The tomobench version that scored it.
        """
        with self.transaction() as con:
            self._put_report(con, sub_id, phase, report, flat, scorer_version, utc_now())

    @staticmethod
    def _put_report(con, sub_id, phase, report, flat, scorer_version, now) -> None:
        summary = summarise(report, flat)
        con.execute("INSERT OR REPLACE INTO reports (submission_id, phase, report_json, summary_json, f1, "
                    "scorer_version, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (sub_id, phase, json.dumps(report), json.dumps(summary), summary.get("f1"),
                     scorer_version, now.isoformat()))

    def find_submission(self, source: str, method: str, dataset: str) -> int | None:
        """The id of the first submission of ``method`` on ``dataset`` from ``source``, None if there is none.

        Parameters
        ----------
        source : str
            ``upload`` or ``pipeline``.
        method : str
            The method's name.
        dataset : str
            The dataset version.
        """
        rows = self.read("SELECT id FROM submissions WHERE source = ? AND method = ? AND dataset = ? "
                         "ORDER BY id LIMIT 1", (source, method, dataset))
        return int(rows[0]["id"]) if rows else None

    def update_submission(self, sub_id: int, **fields) -> None:
        """Change a submission's file or metadata columns (a new ``file_sha256`` is registered).

        Parameters
        ----------
        sub_id : int
            The submission's row id.
        **fields
            New values of ``file_sha256``, ``fmt``, ``timing_json``, ``is_baseline`` or ``filename``;
            any other name (or none) raises ValueError.
        """
        allowed = {"file_sha256", "fmt", "timing_json", "is_baseline", "filename"}
        if not fields or set(fields) - allowed:
            raise ValueError(f"can only update {sorted(allowed)}")
        with self.transaction() as con:
            if fields.get("file_sha256"):
                self._register_file(con, fields["file_sha256"], utc_now())
            sets = ", ".join(f"{k} = ?" for k in fields)
            con.execute(f"UPDATE submissions SET {sets} WHERE id = ?", (*fields.values(), sub_id))

    def submissions(self) -> pd.DataFrame:
        """All submissions (metadata only), oldest first."""
        rows = self.read("SELECT s.*, t.name AS team FROM submissions s LEFT JOIN teams t ON t.id = s.team_id "
                         "ORDER BY s.id")
        records = [dict(r) for r in rows]
        for rec in records:         # baselines have no team: name them, never "None"
            rec["team"] = rec["team"] or ("baseline" if rec["is_baseline"] else "")
        return pd.DataFrame(records)

    def results(self, dataset: str | None = None, phase: str | None = None) -> pd.DataFrame:
        """One row per (submission, phase): metadata + the flat report columns + ``per_class_f1`` (dict)."""
        sql = ("SELECT s.id, s.method, s.dataset, s.is_baseline, s.source, s.description, s.url, s.hardware, "
               "s.runtime_s, s.timing_json, s.created_at, t.name AS team, r.phase, r.summary_json, r.scored_at "
               "FROM submissions s JOIN reports r ON r.submission_id = s.id LEFT JOIN teams t ON t.id = s.team_id "
               "WHERE (? IS NULL OR s.dataset = ?) AND (? IS NULL OR r.phase = ?) ORDER BY s.id")
        rows = self.read(sql, (dataset, dataset, phase, phase))
        records = []
        for r in rows:
            rec = {k: r[k] for k in r.keys() if k != "summary_json"}
            summary = json.loads(r["summary_json"])
            rec.update({k: v for k, v in summary.items() if k not in rec})
            rec["is_baseline"] = bool(rec["is_baseline"])
            rec["team"] = rec["team"] or ("baseline" if rec["is_baseline"] else "")
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def report(self, sub_id: int, phase: str) -> dict | None:
        """A submission's full report for one phase, None when it has none.

        Parameters
        ----------
        sub_id : int
            The submission's row id.
        phase : str
            The phase (``public`` or ``final``).
        """
        rows = self.read("SELECT report_json FROM reports WHERE submission_id = ? AND phase = ?", (sub_id, phase))
        return json.loads(rows[0]["report_json"]) if rows else None

    def datasets(self) -> list[str]:
        """The dataset versions that have submissions, sorted."""
        return [r[0] for r in self.read("SELECT DISTINCT dataset FROM submissions ORDER BY dataset")]

    def counts(self) -> dict[str, int]:
        """Rows per table: ``teams``, ``submissions``, ``reports`` and ``files``."""
        out = {}
        for table in ("teams", "submissions", "reports", "files"):
            out[table] = int(self.read(f"SELECT COUNT(*) FROM {table}")[0][0])
        return out

    # ------------------------------------------------------------------ settings

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        """A setting's value, ``default`` when it is not set.

        Parameters
        ----------
        key : str
            The setting's name.
        default : str or None
            The value returned when the setting is absent.
        """
        rows = self.read("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: str) -> None:
        """Set (or replace) a setting.

        Parameters
        ----------
        key : str
            The setting's name.
        value : str
            Its value (stored as text: ``str(value)``).
        """
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, str(value)))

    def settings(self) -> dict[str, str]:
        """All settings, name -> value."""
        return {r["key"]: r["value"] for r in self.read("SELECT key, value FROM settings")}

    # ------------------------------------------------------------------ audit log and change stamp

    def audit(self, actor: str, action: str, detail: str = "") -> None:
        """Append one line to the organizers' audit log."""
        with self.transaction() as con:
            con.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                        (utc_now().isoformat(), actor, action, detail))

    def audit_log(self, limit: int = 200) -> pd.DataFrame:
        """The latest audit lines, newest first: ``id, at, actor, action, detail``.

        Parameters
        ----------
        limit : int
            At most this many lines.
        """
        rows = self.read("SELECT id, at, actor, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return pd.DataFrame([dict(r) for r in rows], columns=["id", "at", "actor", "action", "detail"])

    def revision(self) -> tuple:
        """Changes whenever a submission, a report or a setting changes (a cache key for the pages)."""
        row = self.read("SELECT (SELECT COUNT(*) FROM submissions), (SELECT MAX(id) FROM submissions), "
                        "(SELECT COUNT(*) FROM reports), (SELECT MAX(scored_at) FROM reports), "
                        "(SELECT group_concat(key || '=' || value) FROM settings), "
                        "(SELECT COUNT(*) FROM teams), (SELECT group_concat(name) FROM teams)")[0]
        return tuple(row)


def _remove_empty(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
