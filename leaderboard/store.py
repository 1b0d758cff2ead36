"""The submission store: SQLite in WAL mode plus content-addressed files.

Why SQLite: one file under the data directory, transactional, safe for many
reader processes and one writer at a time (WAL mode: readers never block the
writer), no server to run. Every write happens inside ``BEGIN IMMEDIATE`` so a
check-then-insert (the daily limit) is atomic across processes; a busy
database is waited for (``busy_timeout``), never an error.

Layout of ``data_dir``::

    leaderboard.sqlite          teams, submissions, reports, settings
    files/ab/abcdef...          uploaded files, named by their SHA-256 (never by the user's name)

Team tokens are random (192 bits) and only their SHA-256 is stored; a token is
shown once, when the team is created (or its token is replaced).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

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
"""


class Refused(Exception):
    """A submission (or organizer action) refused for a reason the user can fix; nothing was stored."""


@dataclass(frozen=True)
class Team:
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
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def summarise(report: dict, flat: dict) -> dict:
    """The small part of a report the leaderboard table and heatmap need (flat row + per-class F1)."""
    out = {k: (None if v is None else (float(v) if isinstance(v, (int, float)) else v)) for k, v in flat.items()}
    out["per_class_f1"] = {str(c): float(v.get("f1", 0.0)) for c, v in (report.get("per_class") or {}).items()}
    return out


class Store:
    """The leaderboard's database; cheap to create (one per process / Streamlit session)."""

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.files_dir = self.data_dir / "files"
        self.db_path = self.data_dir / DB_NAME
        self.data_dir.mkdir(parents=True, exist_ok=True)
        con = self.connect()
        try:
            con.executescript(SCHEMA)
        finally:
            con.close()

    # ------------------------------------------------------------------ connections

    def connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)   # busy_timeout: wait up to 60 s
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode ({mode}) for {self.db_path}")
        con.execute("PRAGMA foreign_keys = ON")
        con.execute("PRAGMA synchronous = NORMAL")
        return con

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on any error."""
        con = self.connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        con = self.connect()
        con.row_factory = sqlite3.Row
        try:
            return con.execute(sql, args).fetchall()
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
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        with self.transaction() as con:
            cur = con.execute("UPDATE teams SET token_hash = ? WHERE name = ?", (hash_token(token), name))
            if cur.rowcount != 1:
                raise InputError(f"no team named {name!r}")
        return token

    def team_for_token(self, token: str | None) -> Team | None:
        if not token or not token.strip():
            return None
        rows = self.read("SELECT id, name FROM teams WHERE token_hash = ?", (hash_token(token),))
        return Team(int(rows[0]["id"]), rows[0]["name"]) if rows else None

    def teams(self) -> pd.DataFrame:
        rows = self.read("SELECT t.id, t.name, t.created_at, COUNT(s.id) AS submissions FROM teams t "
                         "LEFT JOIN submissions s ON s.team_id = t.id GROUP BY t.id ORDER BY t.name")
        return pd.DataFrame([dict(r) for r in rows], columns=["id", "name", "created_at", "submissions"])

    # ------------------------------------------------------------------ files

    def file_path(self, sha256: str) -> Path:
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
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        return sha

    # ------------------------------------------------------------------ submissions

    def count_today(self, team_id: int, now: datetime | None = None, con: sqlite3.Connection | None = None) -> int:
        day = (now or utc_now()).date().isoformat()
        sql, args = "SELECT COUNT(*) FROM submissions WHERE team_id = ? AND day = ?", (team_id, day)
        if con is not None:
            return int(con.execute(sql, args).fetchone()[0])
        return int(self.read(sql, args)[0][0])

    def add_submission(self, sub: Submission, reports: dict[str, tuple[dict, dict]], *,
                       daily_limit: int | None = None, scorer_version: str = "",
                       now: datetime | None = None) -> int:
        """Insert a submission and its reports (phase -> (report, flat row)) in one transaction.

        With ``daily_limit``, raises :class:`Refused` (and stores nothing) when the team has
        already that many submissions today (UTC); the check and the insert are atomic.
        """
        now = now or utc_now()
        with self.transaction() as con:
            if daily_limit is not None and sub.team_id is not None:
                if self.count_today(sub.team_id, now, con) >= daily_limit:
                    raise Refused(f"daily limit reached: {daily_limit} submissions per team per UTC day; "
                                  f"try again tomorrow")
            if sub.file_sha256:
                self._register_file(con, sub.file_sha256, now)
            cur = con.execute(
                "INSERT INTO submissions (team_id, method, description, url, hardware, runtime_s, filename, fmt, "
                "file_sha256, dataset, is_baseline, source, timing_json, created_at, day) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (sub.team_id, sub.method, sub.description, sub.url, sub.hardware, sub.runtime_s, sub.filename,
                 sub.fmt, sub.file_sha256, sub.dataset, int(sub.is_baseline), sub.source,
                 json.dumps(sub.timing or {}), now.isoformat(), now.date().isoformat()))
            sub_id = int(cur.lastrowid)
            for phase, (report, flat) in reports.items():
                self._put_report(con, sub_id, phase, report, flat, scorer_version, now)
        return sub_id

    def _register_file(self, con: sqlite3.Connection, sha256: str, now: datetime) -> None:
        """Record a file stored by :meth:`put_file` (once; the same bytes again are a no-op)."""
        con.execute("INSERT OR IGNORE INTO files (sha256, size_bytes, created_at) VALUES (?, ?, ?)",
                    (sha256, self.file_path(sha256).stat().st_size, now.isoformat()))

    def set_report(self, sub_id: int, phase: str, report: dict, flat: dict, scorer_version: str = "") -> None:
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
        rows = self.read("SELECT id FROM submissions WHERE source = ? AND method = ? AND dataset = ? "
                         "ORDER BY id LIMIT 1", (source, method, dataset))
        return int(rows[0]["id"]) if rows else None

    def update_submission(self, sub_id: int, **fields) -> None:
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
        return pd.DataFrame([dict(r) for r in rows])

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
        rows = self.read("SELECT report_json FROM reports WHERE submission_id = ? AND phase = ?", (sub_id, phase))
        return json.loads(rows[0]["report_json"]) if rows else None

    def datasets(self) -> list[str]:
        return [r[0] for r in self.read("SELECT DISTINCT dataset FROM submissions ORDER BY dataset")]

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("teams", "submissions", "reports", "files"):
            out[table] = int(self.read(f"SELECT COUNT(*) FROM {table}")[0][0])
        return out

    # ------------------------------------------------------------------ settings

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        rows = self.read("SELECT value FROM settings WHERE key = ?", (key,))
        return rows[0]["value"] if rows else default

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, str(value)))
