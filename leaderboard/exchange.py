"""Import of the DVC pipeline's ``data/results.parquet`` and export of the leaderboard.

``results.parquet`` (contracts.md): one row per scored submission with the
columns ``method, is_baseline, dataset, phase``, the flat report columns,
``report_json`` and ``timing_json``. Importing is idempotent: a method already
imported for a dataset has its reports replaced. When the pipeline's submission
file ``data/submissions/<method>.csv`` lies beside the table it is stored too
(content-addressed), so ``rescore`` can score it again; the phase the pipeline
did not score is then scored here when the test truth is present.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from leaderboard.config import PHASES, LeaderboardParams
from leaderboard.store import Store, Submission
from scoring import FLAT_COLUMNS
from tomobench.errors import InputError

EXPORT_COLUMNS = ["rank", "id", "team", "method", "is_baseline", "dataset", "phase", *FLAT_COLUMNS, "created_at", "url"]
_META = {"method", "is_baseline", "dataset", "phase", "report_json", "timing_json"}


def _json_cell(value, what: str, path: Path, row: int) -> dict:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return {}
    if isinstance(value, dict):
        return value
    try:
        doc = json.loads(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} of row {row} is not valid JSON", path) from None
    if not isinstance(doc, dict):
        raise InputError(f"{what} of row {row} is not a JSON object", path)
    return doc


def import_results(store: Store, params: LeaderboardParams, path: str | Path | None = None) -> list[str]:
    """Import the pipeline's results table; return one line per imported row."""
    path = Path(path or params.results_path)
    if not path.is_file():
        raise InputError("results table not found; run the DVC pipeline first ('make run' or 'dvc repro')", path)
    try:
        table = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several kinds
        raise InputError(f"not a readable Parquet file ({exc})", path) from None
    missing = [c for c in ("method", "report_json") if c not in table.columns]
    if missing:
        raise InputError(f"the results table lacks the column(s) {missing}", path)
    lines = []
    for i, row in enumerate(table.to_dict("records"), start=1):
        method = str(row["method"]).strip()
        if not method:
            raise InputError(f"row {i} has an empty method name", path)
        dataset = str(row.get("dataset") or params.dataset)
        phase = str(row.get("phase") or "final")
        phase = phase if phase in PHASES else "final"
        report = _json_cell(row.get("report_json"), "report_json", path, i)
        timing = _json_cell(row.get("timing_json"), "timing_json", path, i)
        flat = {k: _plain(v) for k, v in row.items() if k not in _META}
        is_baseline = bool(row.get("is_baseline", True))
        sub_file = path.parent / "submissions" / f"{method}.csv"
        sha = store.put_file(sub_file.read_bytes()) if sub_file.is_file() else None
        sub_id = store.find_submission("pipeline", method, dataset)
        if sub_id is None:
            sub = Submission(method=method, dataset=dataset, source="pipeline", is_baseline=is_baseline,
                             description="baseline of the DVC pipeline" if is_baseline else "",
                             filename=sub_file.name if sha else "", fmt="csv" if sha else None,
                             file_sha256=sha, timing=timing)
            sub_id = store.add_submission(sub, {phase: (report, flat)}, scorer_version="pipeline")
        else:
            store.set_report(sub_id, phase, report, flat, "pipeline")
            fields = {"timing_json": json.dumps(timing), "is_baseline": int(is_baseline)}
            if sha:
                fields.update(file_sha256=sha, fmt="csv", filename=sub_file.name)
            store.update_submission(sub_id, **fields)
        note = ""
        if sha and dataset == params.dataset:
            note = _score_other_phases(store, params, sub_id, sub_file, phase)
        lines.append(f"{method} ({dataset}, {phase}): submission {sub_id}{note}")
    return lines


def _score_other_phases(store: Store, params: LeaderboardParams, sub_id: int, sub_file: Path, done: str) -> str:
    from leaderboard.submit import clean_message, score_phases, scorer_version

    if not Path(params.private_truth_dir).is_dir():
        return "; other phase not scored (no test truth here)"
    try:
        scored = score_phases(sub_file, "csv", params, phases=[p for p in PHASES if p != done])
    except InputError as exc:
        return f"; other phase not scored: {clean_message(str(exc), params)}"
    for phase, (report, flat) in scored.items():
        store.set_report(sub_id, phase, report, flat, scorer_version())
    return "; " + ", ".join(scored) + " phase scored"


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    return value


def leaderboard_table(store: Store, dataset: str | None, phase: str) -> pd.DataFrame:
    """The ranked leaderboard of one dataset and phase (best F1 first), :data:`EXPORT_COLUMNS` order."""
    return rank(store.results(dataset, phase))


def rank(df: pd.DataFrame) -> pd.DataFrame:
    """Rank :meth:`Store.results` rows of one dataset and phase by F1 (ties: earlier submission first)."""
    if df.empty:
        return pd.DataFrame(columns=EXPORT_COLUMNS)
    df = df.sort_values(["f1", "id"], ascending=[False, True], na_position="last").reset_index(drop=True)
    df["rank"] = range(1, len(df) + 1)
    for col in EXPORT_COLUMNS:
        if col not in df.columns:
            df[col] = None
    return df[EXPORT_COLUMNS + [c for c in ("source", "description", "hardware", "runtime_s") if c in df.columns]]


def export_table(store: Store, dataset: str | None, phases: list[str]) -> pd.DataFrame:
    """The ranked leaderboards of ``phases`` in one table (a ``phase`` column), every submission."""
    frames = [leaderboard_table(store, dataset, p) for p in phases]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EXPORT_COLUMNS)


def export(store: Store, out: str | Path, dataset: str | None, phases: list[str]) -> Path:
    """Write the leaderboard of ``phases`` (one table, a ``phase`` column) as CSV or Parquet (by extension)."""
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise InputError("export to a .csv or .parquet file", out)
    table = export_table(store, dataset, phases)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        table.to_csv(out, index=False)
    elif out.suffix.lower() in (".parquet", ".pq"):
        table.to_parquet(out, index=False)
    else:
        raise InputError("export to a .csv or .parquet file", out)
    return out
