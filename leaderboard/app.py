"""The Streamlit app: ``streamlit run leaderboard/app.py`` (``tomobench leaderboard serve`` does it).

Pages: Leaderboard, Submit, Dataset (a sidebar choice; ``?page=Submit`` opens one
directly). The data directory and parameter file come from the environment
(:data:`leaderboard.config.ENV_DATA_DIR`, :data:`leaderboard.config.ENV_PARAMS`).
"""

from __future__ import annotations

import streamlit as st

from leaderboard.config import load_params
from leaderboard.page_dataset import render as dataset_page
from leaderboard.page_leaderboard import render as leaderboard_page
from leaderboard.page_submit import render as submit_page
from leaderboard.store import Store
from tomobench.errors import InputError

PAGES = {"Leaderboard": leaderboard_page, "Submit": submit_page, "Dataset": dataset_page}


def main() -> None:
    st.set_page_config(page_title="tomobench leaderboard", page_icon="🔬", layout="wide")
    try:
        params = load_params()
        store = Store(params.data_dir)
    except InputError as exc:
        st.error(f"The leaderboard is misconfigured: {exc}")
        st.stop()
    names = list(PAGES)
    wanted = st.query_params.get("page", names[0])
    st.sidebar.title("tomobench")
    page = st.sidebar.radio("Page", names, index=names.index(wanted) if wanted in names else 0, key="page")
    st.sidebar.caption(f"dataset version: {params.dataset}")
    PAGES[page](params, store)


main()
