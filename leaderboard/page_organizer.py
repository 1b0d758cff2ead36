"""The Organizer page, behind the organizer token (``tomobench leaderboard organizer token`` issues it).

Teams and their tokens (issue, replace, revoke), the phase and its announced dates,
blind mode, the reveal of the final ranking, re-scoring of every submission after
a truth fix, export of the results (CSV, Parquet) and the audit log of all of it.
Every action is written to the audit log with the actor ``organizer``.
"""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import streamlit as st

from leaderboard.config import PHASES, LeaderboardParams
from leaderboard.exchange import export_table
from leaderboard.phases import DATE_KEYS, current_phase, is_blind, phase_dates, set_blind, set_phase, set_phase_date
from leaderboard.store import Refused, Store
from leaderboard.submit import rescore_all
from leaderboard.ui import literal
from tomobench.errors import InputError

ACTOR = "organizer"


def render(params: LeaderboardParams, store: Store) -> None:
    """Draw the Organizer page: a token box, then, for the organizer token only, its controls.

    Parameters
    ----------
    params : LeaderboardParams
        The leaderboard's parameters (dataset version, folders, limits).
    store : Store
        The submissions store the page reads and changes (phase, dates, rescoring).
    """
    st.title("Organizer")
    token = st.text_input("Organizer token", type="password", key="org_token")
    if not store.is_organizer(token):
        if token:
            st.error("That is not the organizer token.")
        st.info("This page is for the organizers. Issue the organizer token on the server with "
                "`tomobench leaderboard organizer token` (it is shown once; only its hash is stored).")
        return
    flash = st.session_state.pop("org_flash", None)     # the outcome of the last action (before its rerun)
    if flash:
        st.success(literal(flash[0]))
        if flash[1]:
            st.code(flash[1], language=None)
    try:
        _phase_section(store)
        _teams_section(store)
        _rescore_section(store, params)
        _export_section(store, params)
    except (Refused, InputError) as exc:            # read-only store, a bad team name, ...
        st.error(literal(str(exc)))
    st.subheader("Audit log")
    st.dataframe(store.audit_log(), hide_index=True, key="audit_table", width="stretch")


def _done(store: Store, action: str, detail: str, message: str = "", token: str | None = None) -> None:
    """Audit an action, then rerun so that every section shows the new state (the outcome on top)."""
    store.audit(ACTOR, action, detail)
    st.session_state["org_flash"] = (message or f"{action}: {detail}", token)
    st.rerun()


def _phase_section(store: Store) -> None:
    st.subheader("Phase, dates and blind mode")
    phase, blind = current_phase(store), is_blind(store)
    st.write(f"Now: **{phase}** phase" + (", **blind** (no score is shown to participants)" if blind else ""))
    left, mid, right = st.columns(3)
    chosen = left.radio("Phase", PHASES, index=PHASES.index(phase), horizontal=True, key="org_phase")
    if chosen != phase and left.button("Set phase", key="org_set_phase"):
        set_phase(store, chosen)
        _done(store, "phase", f"{phase} -> {chosen}")
    if mid.button("Blind off" if blind else "Blind on", key="org_blind"):
        set_blind(store, not blind)
        _done(store, "blind", "off" if blind else "on")
    if right.button("Reveal the final ranking", type="primary", key="org_reveal",
                    disabled=phase == "final" and not blind):
        set_phase(store, "final")
        set_blind(store, False)
        _done(store, "reveal", "final phase, blind off: the ranking on all test tomograms is public")
    dates = phase_dates(store)
    cols = st.columns(len(DATE_KEYS))
    new = {}
    for col, (key, title) in zip(cols, DATE_KEYS.items()):
        value = date.fromisoformat(dates[key]) if key in dates else None
        new[key] = col.date_input(title, value=value, key=f"org_date_{key}", format="YYYY-MM-DD")
    if st.button("Save dates", key="org_dates"):
        changed = []
        for key, value in new.items():
            text = value.isoformat() if value else ""
            if text != dates.get(key, ""):
                set_phase_date(store, key, text)
                changed.append(f"{key}={text or '(none)'}")
        _done(store, "dates", ", ".join(changed) or "unchanged")


def _teams_section(store: Store) -> None:
    st.subheader("Teams and tokens")
    st.dataframe(store.teams(), hide_index=True, key="org_teams", width="stretch")
    left, right = st.columns(2)
    name = left.text_input("New team", key="org_team_name")
    if left.button("Create team and issue its token", key="org_team_add") and name.strip():
        token = store.add_team(name)
        _done(store, "team add", name.strip(), f"Team {name.strip()} created. Its token, shown only now:", token)
    names = list(store.teams()["name"])
    if names:
        team = right.selectbox("Team", names, key="org_team_pick")
        a, b = right.columns(2)
        if a.button("Issue a new token", key="org_team_token"):
            token = store.replace_token(team)
            _done(store, "team token", team, f"New token of {team} (the old one no longer works), shown only now:",
                  token)
        if b.button("Revoke its token", key="org_team_revoke"):
            store.revoke_token(team)
            _done(store, "team revoke", team)


def _rescore_section(store: Store, params: LeaderboardParams) -> None:
    st.subheader("Re-score")
    st.caption("After a fix of the test truth (or of the scorer): every stored submission file is scored again "
               "in every phase; what changed goes to the audit log.")
    if st.button("Re-score all submissions", key="org_rescore"):
        with st.spinner("Scoring every submission again..."):
            statuses, changes = rescore_all(store, params, ACTOR)
        ok = sum(s == "ok" for _, s in statuses)
        st.success(f"{ok} of {len(statuses)} submissions re-scored; {len(changes)} score(s) changed.")
        if not changes.empty:
            st.dataframe(changes, hide_index=True, key="org_changes")
        failed = pd.DataFrame([(i, s) for i, s in statuses if s != "ok"], columns=["id", "status"])
        if not failed.empty:
            st.dataframe(failed, hide_index=True, key="org_rescore_failed")


def _export_section(store: Store, params: LeaderboardParams) -> None:
    st.subheader("Export the results")
    datasets = store.datasets() or [params.dataset]
    dataset = st.selectbox("Dataset version", datasets, key="org_export_dataset")
    table = export_table(store, dataset, list(PHASES))
    st.caption(f"{len(table)} rows: every submission of both phases, ranked by F1 per phase.")
    left, right = st.columns(2)
    left.download_button("Download CSV", table.to_csv(index=False).encode(), f"leaderboard-{dataset}.csv",
                         mime="text/csv", key="org_csv")
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    right.download_button("Download Parquet", buf.getvalue(), f"leaderboard-{dataset}.parquet",
                          mime="application/octet-stream", key="org_parquet")
