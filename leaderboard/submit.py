"""Scoring an upload with the real scorer and storing it (what the Submit page calls).

The order of checks is chosen so that a refused upload changes nothing and costs
little: the store is writable, token, form fields, size, file type, the number
of pick lines (counted over the bytes, before any parsing), then one of the
team's daily submissions is **reserved** atomically (so concurrent uploads of
one team cannot make the server score more than the limit), then scoring (a
malformed file is refused with the reader's own message, naming the line), and
only then the file and the scores are stored, in one transaction that consumes
the reservation. Any refusal or failure gives the reservation back.

The upload's name is only ever used, sanitised, as a label; on disk the file is
named by its SHA-256. Messages never show a path of the private truth or of the
data directory.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import scoring
import tomobench
from leaderboard.config import PHASES, LeaderboardParams
from leaderboard.scoring_cache import ScoringCache, ScoringSetup, load_setup
from leaderboard.store import Refused, Store, Submission, utc_now
from tomobench.errors import InputError
from tomobench.particles import EXTENSIONS

TRUTH_LABEL = "<test ground truth>"
# a line that cannot hold a pick: blank, a comment, a STAR header line (data_, loop_, _rlnLabel)
_NON_PICK_LINE = re.compile(rb"(?m)^[ \t\r\f\v]*(?:[#_]|data_|loop_|$)")


@dataclass
class Upload:
    """What the Submit form sends."""

    token: str
    method: str
    filename: str
    data: bytes
    description: str = ""
    url: str = ""
    hardware: str = ""
    runtime_s: float | None = None


@dataclass
class SubmitResult:
    """What an accepted upload gives back: its id, team, sanitised file name and a report per phase.

    ``reports`` holds every phase; show only the visible ones.
    """

    submission_id: int
    team: str
    filename: str
    reports: dict[str, dict] = field(default_factory=dict)   # phase -> report (all phases; show only visible ones)


def scorer_version() -> str:
    """The version of the scorer (tomobench's version), stored with every report."""
    return tomobench.__version__


def sanitise_filename(name: str) -> str:
    """A safe label for an uploaded file's name.

    Its last path component, ASCII letters, digits, ``._-`` only, at most 100 characters (the
    extension kept).

    Parameters
    ----------
    name : str
        The name the browser sent.
    """
    base = unicodedata.normalize("NFKC", str(name)).replace("\\", "/").split("/")[-1]
    base = base.encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    if not base:
        return "submission"
    stem, dot, ext = base.rpartition(".")
    if dot and len(ext) <= 8:
        return stem[: 100 - len(ext) - 1] + "." + ext if stem else "submission." + ext
    return base[:100]


def clean_message(message: str, params: LeaderboardParams, replacements: dict[str, str] | None = None) -> str:
    """Replace paths of the uploaded temporary file, the private truth and the data directory."""
    subs = dict(replacements or {})
    for path, label in ((params.private_truth_dir, TRUTH_LABEL), (params.data_dir, "<leaderboard data>")):
        subs[str(Path(path).resolve())] = label
        subs[str(Path(path))] = label
    for old in sorted(subs, key=len, reverse=True):
        if old and old != ".":
            message = message.replace(old, subs[old])
    return message


def _clean_report(report: dict, params: LeaderboardParams, replacements: dict[str, str]) -> dict:
    report = dict(report)
    report["warnings"] = [clean_message(str(w), params, replacements) for w in report.get("warnings") or []]
    if "tomograms" in report:
        report["tomograms"] = [clean_message(t, params, replacements) if isinstance(t, str) else t
                               for t in report["tomograms"]]
    return report


def _non_pick_lines(data: bytes) -> list[int]:
    """1-based numbers of the lines that cannot hold a pick (blank, comment, STAR header), in order."""
    out, line, last = [], 1, 0
    for match in _NON_PICK_LINE.finditer(data):
        line += data.count(b"\n", last, match.start())
        last = match.start()
        out.append(line)
    return out


def check_pick_count(data: bytes, fmt: str, max_picks: int) -> None:
    """Refuse a file with more than ``max_picks`` picks by counting its lines, before any parsing.

    Text formats: lines that can hold a pick (the CSV header excepted); copick JSON: ``"location"``
    keys. Tens of milliseconds for a 20 MB file; the reader's own count stays the exact check.
    """
    header = 1 if fmt == "csv" else 0
    if fmt == "copick":
        n = data.count(b'"location"')
        if n > max_picks:
            raise Refused(f"the file holds {n:,} picks (\"location\" entries); the limit is {max_picks:,} picks")
        return
    n_lines = data.count(b"\n") + 1
    if n_lines <= max_picks + header:
        return                                      # cannot exceed the limit: no need to look further
    skipped = _non_pick_lines(data)
    n = n_lines - len(skipped) - header
    if n <= max_picks:
        return
    line = max_picks + header + 1                   # the first pick beyond the limit, were no line skipped
    for number in skipped:
        if number > line:
            break
        line += 1
    raise Refused(f"line {line:,}: pick number {max_picks + 1:,} is beyond the limit of {max_picks:,} picks per "
                  f"submission (the file has {n:,}); remove low-scoring picks")


def score_phases(path: Path, fmt: str, params: LeaderboardParams, setup: ScoringSetup | None = None,
                 *, phases: tuple[str, ...] | list[str] = PHASES, label: str = "") -> dict[str, tuple[dict, dict]]:
    """Score one file for ``phases``: phase -> (report, flat row). Raises InputError.

    ``setup``: the truth of each phase and the scoring options (:meth:`ScoringCache.get`), read here
    when not given. The final phase scores all test tomograms; the public phase the truths of
    :func:`~leaderboard.phases.public_tomograms` and the picks of those tomograms (picks without a
    tomogram name are kept: the scorer decides where they belong). The final phase is scored first
    (its errors win), and a tomogram of both phases is counted once (:func:`scoring.score_particles_on`).
    """
    setup = setup or load_setup(params)
    final, public = setup.truth["final"], setup.truth["public"]
    picks = scoring.read_submission(path, final.truths, fmt=fmt, max_picks=params.max_picks)
    wanted = [phase for phase in ("final", "public") if phase in phases]
    if public is final and len(wanted) == 2:
        wanted = ["final"]                              # the same truth: the same report
    reports = scoring.score_particles_on(picks, {phase: setup.truth[phase] for phase in wanted}, setup.options,
                                         source=path)
    out = {phase: reports[phase] if phase in reports else reports["final"] for phase in phases}
    return {phase: (report, scoring.flatten_report(report)) for phase, report in out.items()}


def _score_data(data: bytes, label: str, fmt: str, params: LeaderboardParams,
                scorer: ScoringCache | None = None) -> dict[str, tuple[dict, dict]]:
    """Score a particle list's bytes for every phase, from a temporary file (not in the store: it may be full).

    ``scorer`` keeps the truth and options between uploads; without it they are read here.
    Reports and messages name the file ``label``, never a path; a file the scorer refuses (or a
    truth that cannot be read) raises :class:`Refused` with the scorer's message.
    """
    with tempfile.TemporaryDirectory(prefix="tomobench-upload-") as tmp:
        path = Path(tmp) / ("upload" + Path(label).suffix.lower())
        path.write_bytes(data)
        replacements = {str(path.resolve()): label, str(path): label}
        try:
            setup = scorer.get() if scorer is not None else load_setup(params)
            with scorer.slots if scorer is not None else contextlib.nullcontext():   # one per core at a time
                scored = score_phases(path, fmt, params, setup, label=label)
        except InputError as exc:       # one paragraph: a library's message may span lines
            raise Refused(" ".join(clean_message(str(exc), params, replacements).split())) from None
    return {phase: (_clean_report(report, params, replacements), flat) for phase, (report, flat) in scored.items()}


def _check_form(upload: Upload, params: LeaderboardParams) -> tuple[str, str]:
    method = upload.method.strip()
    if not method:
        raise Refused("give your method a name")
    if len(method) > 100 or any(ord(c) < 32 for c in method):
        raise Refused("the method name must be at most 100 printable characters")
    url = upload.url.strip()
    if url and not re.match(r"^https?://[^\s<>\"']+$", url):
        raise Refused("the code or paper URL must start with http:// or https://")
    if upload.runtime_s is not None and not (np.isfinite(upload.runtime_s) and upload.runtime_s >= 0):
        raise Refused("the runtime must be a non-negative number of seconds")
    size = len(upload.data)
    if size == 0:
        raise Refused("the file is empty; a submission needs at least one pick")
    if size > params.max_file_bytes:
        raise Refused(f"the file is {size / 2**20:.1f} MB; the limit is {params.max_file_mb:g} MB")
    filename = sanitise_filename(upload.filename)
    ext = Path(filename).suffix.lower()
    if ext not in EXTENSIONS:
        raise Refused(f"unsupported file type {ext or '(none)'!r}: upload a .txt (SHREC), .csv, .star "
                      f"(RELION) or .json (copick) particle list")
    return filename, EXTENSIONS[ext]


def submit(store: Store, params: LeaderboardParams, upload: Upload, *, now: datetime | None = None,
           scorer: ScoringCache | None = None) -> SubmitResult:
    """Check, score and store an upload; raise :class:`Refused` with a clear message otherwise.

    ``scorer``: the truth and scoring options kept between uploads (the app keeps one per server
    process); read for this upload alone when not given. A refused or failed upload stores
    nothing: no row, no file, no score (see the module docstring).
    """
    now = now or utc_now()
    store.check_writable(len(upload.data))
    team = store.team_for_token(upload.token)
    if team is None:
        raise Refused("invalid team token; ask the organizers for your team's token")
    filename, fmt = _check_form(upload, params)
    check_pick_count(upload.data, fmt, params.max_picks)
    reservation = store.reserve(team.id, params.daily_limit, now)
    try:
        scored = _score_data(upload.data, filename, fmt, params, scorer)
        sub = Submission(method=upload.method.strip(), dataset=params.dataset, source="upload", team_id=team.id,
                         description=upload.description.strip()[:2000], url=upload.url.strip(),
                         hardware=upload.hardware.strip()[:200], runtime_s=upload.runtime_s, filename=filename,
                         fmt=fmt, timing={} if upload.runtime_s is None else {
                             "wall_s": upload.runtime_s, "device": upload.hardware.strip()[:200]})
        sub_id = store.add_submission(sub, scored, daily_limit=params.daily_limit, scorer_version=scorer_version(),
                                      now=now, reservation=reservation, data=upload.data)
    except BaseException:
        store.release(reservation)          # on success add_submission consumed it in its own transaction
        raise
    return SubmitResult(sub_id, team.name, filename, {phase: report for phase, (report, _) in scored.items()})


def rescore(store: Store, params: LeaderboardParams, ids: list[int] | None = None) -> list[tuple[int, str]]:
    """Score stored files again (after a scorer or truth change): (id, "ok" | error message) each."""
    subs = store.submissions()
    out: list[tuple[int, str]] = []
    if subs.empty:
        return out
    if ids:
        subs = subs[subs["id"].isin(ids)]
    scorer = ScoringCache(params)       # the truth read once for all submissions (a bad one: each reports it)
    row: Any        # an itertuples row: the store's columns, unknown to pandas-stubs
    for row in subs.itertuples(index=False):
        if not row.file_sha256:
            out.append((int(row.id), "no stored file (imported without its submission file); skipped"))
            continue
        try:
            scored = _score_data(store.file_path(row.file_sha256).read_bytes(), row.filename or "submission",
                                 row.fmt, params, scorer)
        except Refused as exc:
            out.append((int(row.id), str(exc)))
            continue
        for phase, (report, flat) in scored.items():
            store.set_report(int(row.id), phase, report, flat, scorer_version())
        out.append((int(row.id), "ok"))
    return out


def rescore_all(store: Store, params: LeaderboardParams, actor: str) -> tuple[list[tuple[int, str]], pd.DataFrame]:
    """Re-score every stored submission (after a truth fix) and write what changed to the audit log.

    Returns (per-submission status, changes: ``id, phase, f1_before, f1_after`` of every report whose
    scores moved, overall or per class).
    """
    before = _summaries(store)
    statuses = rescore(store, params)
    after = _summaries(store)
    changes = before.merge(after, on=["id", "phase"], how="outer", suffixes=("_before", "_after"))
    changes = changes[changes["summary_before"] != changes["summary_after"]].reset_index(drop=True)
    changes = changes[["id", "phase", "f1_before", "f1_after"]].astype({"f1_before": float, "f1_after": float})
    ok = sum(status == "ok" for _, status in statuses)
    detail = (f"{ok} of {len(statuses)} submissions re-scored; {len(changes)} score(s) changed"
              + "".join(f"; #{r.id} {r.phase} F1 {r.f1_before:.4f} -> {r.f1_after:.4f}"
                        for r in changes.head(50).itertuples()))
    failed = [f"#{i}: {status}" for i, status in statuses if status != "ok"]
    store.audit(actor, "rescore", detail + ("; not re-scored: " + "; ".join(failed[:20]) if failed else ""))
    return statuses, changes


def _summaries(store: Store) -> pd.DataFrame:
    rows = store.read("SELECT submission_id AS id, phase, f1, summary_json AS summary FROM reports")
    return pd.DataFrame([dict(r) for r in rows], columns=["id", "phase", "f1", "summary"])
