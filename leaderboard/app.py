"""The Streamlit app: ``streamlit run leaderboard/app.py`` (``tomobench leaderboard serve`` does it).

Pages: Leaderboard, Submit, Dataset, Organizer (a sidebar choice; ``?page=Submit`` opens one
directly). The data directory and parameter file come from the environment
(:data:`leaderboard.config.ENV_DATA_DIR`, :data:`leaderboard.config.ENV_PARAMS`).
A store that cannot be written puts the app in read-only mode (a banner; uploads
refused); any unexpected error is shown as a short apology with an incident id,
its traceback going to the server log only.
"""

from __future__ import annotations

import streamlit as st

from leaderboard.config import load_params
from leaderboard.page_dataset import render as dataset_page
from leaderboard.page_leaderboard import render as leaderboard_page
from leaderboard.page_organizer import render as organizer_page
from leaderboard.page_submit import render as submit_page
from leaderboard.store import Store
from leaderboard.ui import apology, literal, report_incident
from tomobench.errors import InputError

PAGES = {"Leaderboard": leaderboard_page, "Submit": submit_page, "Dataset": dataset_page,
         "Organizer": organizer_page}


def main() -> None:
    """Run the Streamlit app: the sidebar's page picker, then the page chosen (``?page=`` preselects one)."""
    st.set_page_config(page_title="tomobench leaderboard", page_icon="🔬", layout="wide")
    try:
        params = load_params()
        store = Store(params.data_dir)
    except InputError as exc:
        st.error(literal(f"The leaderboard is misconfigured: {exc}"))
        st.stop()
    names = list(PAGES)
    wanted = st.query_params.get("page", names[0])
    st.sidebar.title("tomobench")
    page = st.sidebar.radio("Page", names, index=names.index(wanted) if wanted in names else 0, key="page")
    st.sidebar.caption(literal(f"dataset version: {params.dataset}"))
    if store.read_only:
        st.warning(literal(f"Read-only mode: the {store.read_only_reason}. The leaderboard stays readable; "
                           "uploads are refused until the organizers fix the storage."), icon="⚠️")
    try:
        PAGES[page](params, store)
    except Exception as exc:  # noqa: BLE001 - a bug or a fault: apologise, never show a traceback
        # (st.stop / st.rerun raise BaseException subclasses and pass through)
        st.error(apology(report_incident(exc, f"page {page}"), f"showing the {page} page"))


main()
