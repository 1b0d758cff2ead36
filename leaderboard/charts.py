"""Altair charts of the leaderboard, as pure functions of DataFrames (SHREC 2020 figures).

``results`` is :meth:`leaderboard.store.Store.results` of one dataset and phase
(one row per submission, with ``per_class_f1`` dicts); ``classes`` the public
class table (``class_name``, ``mass_kda``, ``size_group``).
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

MAX_ROWS = 25   # submissions drawn in the per-submission charts (best F1 first)


def label(df: pd.DataFrame) -> pd.Series:
    """A unique display name per submission: ``team / method #id``."""
    return df["team"].fillna("").astype(str) + " / " + df["method"].astype(str) + " #" + df["id"].astype(str)


def rank_pages(n: int, size: int = MAX_ROWS) -> list[tuple[int, int]]:
    """(first, last) ranks, 1-based and inclusive, of the pages of ``size`` submissions each."""
    return [(start + 1, min(start + size, n)) for start in range(0, n, size)]


def per_class_long(results: pd.DataFrame, max_rows: int = MAX_ROWS, start: int = 0) -> pd.DataFrame:
    """Long table (submission, class, f1) of one page of the ranked submissions.

    The page holds the submissions ranked ``start + 1`` to ``start + max_rows`` (best F1 first; ties:
    earlier submission first).
    """
    if results.empty:
        return pd.DataFrame(columns=["submission", "class", "f1", "overall_f1"])
    ranked = results.sort_values(["f1", "id"], ascending=[False, True], na_position="last")
    top = ranked.iloc[start:start + max_rows]
    names = label(top)
    records: list[Any] = list(top.itertuples(index=False))     # the store's columns: unknown to pandas-stubs
    rows = [{"submission": name, "class": c, "f1": float(f), "overall_f1": float(r.f1 or 0)}
            for name, r in zip(names, records) for c, f in (r.per_class_f1 or {}).items()]
    return pd.DataFrame(rows, columns=["submission", "class", "f1", "overall_f1"])


def with_mass(long: pd.DataFrame, classes: pd.DataFrame | None) -> pd.DataFrame:
    """Add ``mass_kda`` and ``size_group`` from the class table (classes without a mass dropped)."""
    if classes is None or long.empty:
        return long.assign(mass_kda=pd.Series(dtype=float), size_group=pd.Series(dtype=str)).iloc[0:0]
    info = classes[["class_name", "mass_kda", "size_group"]].rename(columns={"class_name": "class"})
    out = long.merge(info, on="class", how="inner")
    return out[out["mass_kda"].notna() & (out["mass_kda"] > 0)]


def heatmap(long: pd.DataFrame, classes: pd.DataFrame | None = None) -> alt.Chart:
    """Per-class F1 heatmap (SHREC 2020 Table 4): classes sorted by molecular weight when known."""
    order = sorted(long["class"].unique())
    if classes is not None and "mass_kda" in classes:
        mass = dict(zip(classes["class_name"], classes["mass_kda"]))
        order = sorted(order, key=lambda c: (pd.isna(mass.get(c)), mass.get(c) or 0, c))
    sub_order = list(long.sort_values("overall_f1", ascending=False)["submission"].drop_duplicates())
    base = alt.Chart(long).encode(
        x=alt.X("class:N", sort=order, title="class (by molecular weight)"),
        y=alt.Y("submission:N", sort=sub_order, title=None))
    cells = base.mark_rect().encode(
        color=alt.Color("f1:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis"), title="F1"),
        tooltip=["submission", "class", alt.Tooltip("f1:Q", format=".3f")])
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("f1:Q", format=".2f"),
        color=alt.condition(alt.datum.f1 > 0.6, alt.value("black"), alt.value("white")))
    return (cells + text).properties(title="Per-class F1 (SHREC Table 4)", height=alt.Step(22))


def f1_vs_mass(long_mass: pd.DataFrame, log: bool) -> alt.Chart:
    """F1 against molecular weight (SHREC 2020 Fig. 11), linear or logarithmic mass axis."""
    scale = alt.Scale(type="log") if log else alt.Scale(zero=False)
    return alt.Chart(long_mass).mark_line(point=True).encode(
        x=alt.X("mass_kda:Q", scale=scale, title="molecular weight (kDa)" + (", log scale" if log else "")),
        y=alt.Y("f1:Q", scale=alt.Scale(domain=[0, 1]), title="F1"),
        color=alt.Color("submission:N", legend=alt.Legend(orient="bottom", columns=2)),
        order="mass_kda:Q",
        tooltip=["submission", "class", alt.Tooltip("mass_kda:Q", format=".0f"), alt.Tooltip("f1:Q", format=".3f")],
    ).properties(title="F1 vs molecular weight" + (" (log)" if log else " (linear)"), height=300)


def cumulative_f1(long: pd.DataFrame) -> alt.Chart:
    """Cumulative classification F1 (SHREC 2020 Fig. 10): per-class F1 stacked per submission."""
    sub_order = list(long.sort_values("overall_f1", ascending=False)["submission"].drop_duplicates())
    return alt.Chart(long).mark_bar().encode(
        y=alt.Y("submission:N", sort=sub_order, title=None),
        x=alt.X("sum(f1):Q", title="cumulative F1 (sum over classes)"),
        color=alt.Color("class:N", legend=alt.Legend(orient="bottom", columns=6)),
        tooltip=["submission", "class", alt.Tooltip("f1:Q", format=".3f")],
    ).properties(title="Cumulative F1 (SHREC Fig. 10)", height=alt.Step(22))


def confusion_long(report: dict) -> pd.DataFrame:
    """Long table (truth, predicted, count, fraction) of a report's confusion matrix."""
    conf = report.get("confusion") or {}
    rows, cols, counts = conf.get("rows") or [], conf.get("columns") or [], conf.get("counts") or []
    out = []
    for r, line in zip(rows, counts):
        total = float(sum(line)) or 1.0
        for c, n in zip(cols, line):
            out.append({"truth": str(r), "predicted": str(c), "count": int(n), "fraction": n / total})
    return pd.DataFrame(out, columns=["truth", "predicted", "count", "fraction"])


def confusion(long: pd.DataFrame, title: str) -> alt.Chart:
    """Confusion matrix (SHREC 2020 Fig. 12): rows are truth, columns the predicted class (row-normalised)."""
    rows = list(dict.fromkeys(long["truth"]))
    cols = list(dict.fromkeys(long["predicted"]))
    base = alt.Chart(long).encode(x=alt.X("predicted:N", sort=cols, title="predicted"),
                                  y=alt.Y("truth:N", sort=rows, title="ground truth"))
    cells = base.mark_rect().encode(
        color=alt.Color("fraction:Q", scale=alt.Scale(domain=[0, 1], scheme="blues"), title="fraction"),
        tooltip=["truth", "predicted", "count", alt.Tooltip("fraction:Q", format=".2f")])
    text = base.mark_text(fontSize=10).encode(
        text="count:Q", color=alt.condition(alt.datum.fraction > 0.5, alt.value("white"), alt.value("black")))
    return (cells + text).properties(title=title, height=alt.Step(24), width=alt.Step(36))


TIMING_COLUMNS = ["wall_s", "train_s", "infer_s", "device", "n_rotations", "voxels"]


def timing_table(results: pd.DataFrame) -> pd.DataFrame:
    """SHREC 2020 Table 7: run time per submission (from the pipeline's timing JSON or the upload form)."""
    import json

    rows = []
    r: Any          # an itertuples row: the store's columns, unknown to pandas-stubs
    for r in results.itertuples(index=False):
        timing = json.loads(r.timing_json or "{}") if isinstance(r.timing_json, str) else {}
        runtime = None if pd.isna(r.runtime_s) else float(r.runtime_s)     # SQLite NULL arrives as NaN
        if not timing and runtime is None:
            continue
        row = {"team": r.team, "method": r.method, "id": r.id}
        row.update({k: timing.get(k) for k in TIMING_COLUMNS})
        if row["wall_s"] is None and runtime is not None:
            row["wall_s"] = runtime
        if not row["device"] and r.hardware:
            row["device"] = r.hardware
        rows.append(row)
    return pd.DataFrame(rows, columns=["team", "method", "id", *TIMING_COLUMNS])
