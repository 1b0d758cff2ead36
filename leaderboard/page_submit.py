"""The Submit page: token, method metadata and a particle-list file, scored at once with the real scorer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import scoring
from leaderboard.config import LeaderboardParams
from leaderboard.phases import visible_phases
from leaderboard.scoring_cache import ScoringCache
from leaderboard.store import Refused, Store
from leaderboard.submit import Upload, submit
from leaderboard.ui import apology, literal, report_incident
from tomobench.particles import EXTENSIONS

TYPES = ", ".join(EXTENSIONS)


def _runtime(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise Refused(f"the runtime {text!r} is not a number of seconds") from None


@st.cache_resource(show_spinner=False, max_entries=2)
def scoring_cache(params_json: str) -> ScoringCache:
    """The truth and scoring options of one parameter set, kept once per server process.

    Shared by every session; it reads its files again only when one changed (:class:`ScoringCache`).
    """
    return ScoringCache(LeaderboardParams.model_validate_json(params_json))


def render(params: LeaderboardParams, store: Store) -> None:
    """Draw the Submit page.

    Parameters
    ----------
    params : LeaderboardParams
        The leaderboard's parameters (dataset version, folders, limits).
    store : Store
        The submissions store the page reads and adds the scored upload to.
    """
    st.title("Submit")
    st.markdown(
        f"Upload the picks of your method on the **test** tomograms of dataset **{literal(params.dataset)}**: one "
        "file in any format of the benchmark (SHREC text `class x y z [phi theta psi]`, CSV with a header "
        "`class,x,y,z[,phi,theta,psi][,score][,tomo]`, RELION STAR, copick JSON), with a `tomo` column when it "
        "covers several tomograms. It is scored at once against the private ground truth. "
        f"Limits: {params.daily_limit} submissions per team per UTC day, {params.max_file_mb:g} MB and "
        f"{params.max_picks:,} picks per file.")
    if store.read_only:
        st.error(literal(f"Uploads are closed for now: the {store.read_only_reason}. "
                         "The leaderboard stays readable."))
    token = st.text_input("Team token", type="password", key="token")
    method = st.text_input("Method name", key="method")
    description = st.text_area("Description", key="description")
    url = st.text_input("Code or paper URL", key="url")
    col1, col2 = st.columns(2)
    hardware = col1.text_input("Hardware (optional)", key="hardware")
    runtime = col2.text_input("Runtime in seconds (optional)", key="runtime")
    # no type= here: Streamlit's own check raises an exception for other names; submit() refuses them clearly
    upload = st.file_uploader(f"Particle list ({TYPES})", key="file")
    if not st.button("Submit", type="primary", key="submit"):
        return
    if upload is None:
        st.error("Choose a particle-list file to upload.")
        return
    try:
        with st.spinner("Scoring..."):
            result = submit(store, params, scorer=scoring_cache(params.model_dump_json()), upload=Upload(
                token=token, method=method, filename=upload.name, data=upload.getvalue(), description=description,
                url=url, hardware=hardware, runtime_s=_runtime(runtime)))
    except Refused as exc:
        st.error(literal(f"Submission refused, nothing was stored: {exc}"))
        return
    except Exception as exc:  # noqa: BLE001 - anything else is our bug: apologise, log it with an id
        st.error(apology(report_incident(exc, "submit"), "scoring your upload"))
        return
    st.success(literal(f"Submission {result.submission_id} of team {result.team} ({result.filename}) is scored "
                       f"and stored."))
    _show_report(store, result.reports)


def _show_report(store: Store, reports: dict[str, dict]) -> None:
    if not visible_phases(store):
        st.info("Blind phase: your scores are hidden until the organizers reveal them.")
        return
    report = reports["public"]          # the public phase is visible whenever any phase is
    st.subheader("Your report (public phase)")
    cols = st.columns(4)
    for col, key in zip(cols, ("f1", "precision", "recall", "fbeta")):
        value = report.get(key)
        value = value.get("score") if isinstance(value, dict) else value
        col.metric(key, "n/a" if value is None else f"{float(value):.3f}")
    per_class = pd.DataFrame(report.get("per_class") or {}).T
    if not per_class.empty:
        st.dataframe(per_class, key="report_per_class")
    st.code(scoring.format_report(report), language=None)
    for warning in report.get("warnings") or []:
        st.warning(literal(warning))
