"""The Leaderboard page: the ranked table (SHREC Tables 3 and 6, F-beta) and the SHREC 2020 figures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from leaderboard import charts
from leaderboard.config import LeaderboardParams
from leaderboard.exchange import rank
from leaderboard.phases import DATE_KEYS, current_phase, phase_dates, visible_phases
from leaderboard.store import Store
from leaderboard.ui import literal
from scoring import FLAT_COLUMNS
from tomobench.classes import read_classes
from tomobench.errors import InputError

PHASE_TITLES = {"public": "public phase (part of the test tomograms)", "final": "final (all test tomograms)"}
TABLE_COLUMNS = ["rank", "team", "method", "baseline", *FLAT_COLUMNS, "created_at", "id"]
RATIO_COLUMNS = FLAT_COLUMNS[FLAT_COLUMNS.index("AD"):]      # shown with three decimals


def public_classes(params: LeaderboardParams) -> pd.DataFrame | None:
    """The public class table (molecular weights for Fig. 11), or None when absent."""
    path = Path(params.public_dir) / "classes.csv"
    try:
        return read_classes(path).table if path.is_file() else None
    except InputError:
        return None


@st.cache_data(show_spinner=False, max_entries=16)
def cached_results(data_dir: str, dataset: str, phase: str, revision: tuple) -> pd.DataFrame:
    """:meth:`Store.results`, read again only when the store's ``revision`` changes (warm renders)."""
    return Store(data_dir).results(dataset, phase)


def render(params: LeaderboardParams, store: Store) -> None:
    """Draw the Leaderboard page: the ranking, the per-class charts, a confusion matrix, the run times.

    Parameters
    ----------
    params : LeaderboardParams
        The leaderboard's parameters (dataset version, folders, limits).
    store : Store
        The submissions store the page reads.
    """
    st.title("Leaderboard")
    choice = _dataset_and_phase(params, store)
    if choice is None:
        return
    dataset, phase = choice
    results = cached_results(str(store.data_dir), dataset, phase, store.revision())
    if results.empty:
        st.info("No scored submission for this dataset version and phase yet.")
        return
    table = rank(results)
    _ranking(table)
    _per_class_charts(params, results, table)
    _confusion(store, table, phase)
    _run_times(results)


def _dataset_and_phase(params: LeaderboardParams, store: Store) -> tuple[str, str] | None:
    """The dataset version and phase the visitor picks; None in the blind phase (its table is drawn here)."""
    datasets = store.datasets() or [params.dataset]
    dataset = st.selectbox("Dataset version", datasets,
                           index=datasets.index(params.dataset) if params.dataset in datasets else 0)
    dates = phase_dates(store)
    if dates:
        st.caption(literal("; ".join(f"{DATE_KEYS[k]}: {v}" for k, v in dates.items()) + " (UTC)"))
    phases = visible_phases(store)
    if not phases:
        st.info("Blind phase: scores are hidden until the organizers reveal them. Submissions received:")
        subs = store.submissions()
        if not subs.empty:
            subs = subs[subs["dataset"] == dataset]
            st.dataframe(subs[["id", "team", "method", "created_at"]], hide_index=True, key="blind_table")
        return None
    phase = st.radio("Phase", phases, horizontal=True, format_func=PHASE_TITLES.get, key="phase_choice")
    if current_phase(store) == "public":
        st.caption("Public phase: scores on part of the test tomograms; the final ranking on all of them is "
                   "revealed at the end.")
    return dataset, phase


def _ranking(table: pd.DataFrame) -> None:
    """The ranking table (SHREC Table 3 columns, size groups, F-beta), best F1 first."""
    table["baseline"] = table["is_baseline"].astype(bool)
    st.subheader(f"{len(table)} submissions, best F1 first (click a column to sort)")
    fmt = {c: st.column_config.NumberColumn(c, format="%.3f") for c in RATIO_COLUMNS}
    fmt["baseline"] = st.column_config.CheckboxColumn("baseline")
    st.dataframe(table[[c for c in TABLE_COLUMNS if c in table]], hide_index=True, column_config=fmt,
                 width="stretch", key="leaderboard_table")
    st.caption("RR reported picks, TP/FP/FN true/false positives and false negatives, MH multiple hits, "
               "RO picks outside the volume, AD average distance (voxels) of the first hit to the centre; "
               "size-group F1 as in SHREC 2020 Table 6; F-beta: distance-based, CZII style.")


def _per_class_charts(params: LeaderboardParams, results: pd.DataFrame, table: pd.DataFrame) -> None:
    """Per-class heatmap, F1 against mass and cumulative F1, 25 ranks at a time."""
    classes = public_classes(params)
    pages = charts.rank_pages(len(table))
    first, last = pages[0]
    if len(pages) > 1:          # the charts draw 25 submissions at a time; every rank is reachable
        labels = [f"{a}-{b}" for a, b in pages]
        first, last = pages[labels.index(st.selectbox("Ranks shown in the charts", labels, key="chart_ranks"))]
    long = charts.per_class_long(results, last - first + 1, first - 1)
    if long.empty:
        return
    st.subheader("Per-class results" + (f" (ranks {first}-{last} of {len(table)})" if len(pages) > 1 else ""))
    st.altair_chart(charts.heatmap(long, classes), width="stretch")
    mass = charts.with_mass(long, classes)
    if not mass.empty:
        left, right = st.columns(2)
        left.altair_chart(charts.f1_vs_mass(mass, log=False), width="stretch")
        right.altair_chart(charts.f1_vs_mass(mass, log=True), width="stretch")
    st.altair_chart(charts.cumulative_f1(long), width="stretch")


def _confusion(store: Store, table: pd.DataFrame, phase: str) -> None:
    """The confusion matrix of one submission the visitor picks (SHREC Fig. 12)."""
    st.subheader("Confusion matrix (SHREC Fig. 12)")
    ids = dict(zip(charts.label(table), table["id"]))        # every submission, best first
    chosen = st.selectbox("Submission", list(ids), key="confusion_choice")
    report = store.report(int(ids[chosen]), phase) or {}
    conf = charts.confusion_long(report)
    if conf.empty:
        st.info("This report has no confusion matrix.")
    else:
        st.altair_chart(charts.confusion(conf, chosen), width="content")


def _run_times(results: pd.DataFrame) -> None:
    """Training and inference times as the submissions reported them (SHREC Table 7)."""
    st.subheader("Run time (SHREC Table 7)")
    timing = charts.timing_table(results)
    if timing.empty:
        st.info("No timing reported.")
    else:
        st.dataframe(timing, hide_index=True, key="timing_table")
