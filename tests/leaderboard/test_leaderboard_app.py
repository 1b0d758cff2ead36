"""AppTest of every page: the pipeline's results render; uploads are scored, shown and stored; refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import leaderboard
from leaderboard.config import ENV_DATA_DIR, ENV_PARAMS
from leaderboard.exchange import import_results
from leaderboard.phases import set_blind, set_phase

APP = str(Path(leaderboard.__file__).with_name("app.py"))


@pytest.fixture
def app(params, params_file, store, monkeypatch):
    monkeypatch.setenv(ENV_PARAMS, str(params_file))
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    import_results(store, params)

    def start(page: str = "Leaderboard") -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        if page != "Leaderboard":
            at.sidebar.radio(key="page").set_value(page).run()
        assert not at.exception, at.exception
        return at
    return start


def shown(element) -> str:
    """The text a reader sees: the page escapes user text for Markdown with backslashes."""
    return re.sub(r"\\(.)", r"\1", element.value)


def _df(at, column: str) -> pd.DataFrame:
    """The first table on the page with ``column`` (AppTest does not expose a dataframe's key)."""
    found = [df.value for df in at.dataframe if column in df.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def _table(at) -> pd.DataFrame:
    return _df(at, "rank")


def _chart_specs(at) -> list[str]:
    return [el.proto.spec for el in at.main if getattr(el, "type", None) == "vega_lite_chart"]


def _fill_and_submit(at, token: str, method: str, filename: str, data: bytes, **inputs: str) -> None:
    """Fill the Submit form (``inputs``: more text inputs by key, in order) and press Submit."""
    at.text_input(key="token").input(token)
    at.text_input(key="method").input(method)
    for key, value in inputs.items():
        at.text_input(key=key).input(value)
    at.file_uploader(key="file").set_value((filename, data, "text/csv"))
    at.button(key="submit").click().run()


def test_leaderboard_page_renders_the_pipeline_results(app, dataset):
    at = app()
    table = _table(at)
    results = pd.read_parquet(dataset / "results.parquet")
    assert sorted(table["method"]) == sorted(results["method"]) and table["baseline"].all()
    assert {"RR", "TP", "FP", "FN", "MH", "RO", "AD", "precision", "recall", "miss_rate", "f1", "f1_small",
            "f1_medium", "f1_large", "fbeta"} <= set(table.columns)
    assert list(table["rank"]) == [1, 2] and table["f1"].is_monotonic_decreasing
    specs = _chart_specs(at)
    assert len(specs) == 5, "heatmap, F1 vs mass linear and log, cumulative F1, confusion matrix"
    assert any('"type": "log"' in s or '"type":"log"' in s for s in specs)
    assert sorted(_df(at, "wall_s")["method"]) == sorted(results["method"])
    # the confusion matrix of the other submission
    at.selectbox(key="confusion_choice").select_index(1).run()
    assert not at.exception


def test_submit_page_scores_and_the_submission_appears(app, store, picks_file):
    token = store.add_team("alpha")
    at = app("Submit")
    _fill_and_submit(at, token, "sphere finder", "my picks.csv", picks_file.read_bytes(), runtime="12.5",
                     hardware="1 CPU")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "is scored and stored" in shown(at.success[0])
    assert "SHREC" in at.code[0].value or "F1" in at.code[0].value
    assert _df(at, "precision").shape[0] == 3
    at.sidebar.radio(key="page").set_value("Leaderboard").run()
    table = _table(at)
    assert "sphere finder" in set(table["method"]) and len(table) == 3
    assert table.loc[table["method"] == "sphere finder", "team"].item() == "alpha"
    assert "sphere finder" in set(_df(at, "wall_s")["method"])


@pytest.mark.parametrize("case, message", [
    ("token", "invalid team token"),
    ("oversize", "the limit is 0.05 MB"),
    ("malformed", "x is 'abc', not a number"),
    ("limit", "daily limit reached"),
])
def test_submit_page_refusals(app, store, picks_file, params, case, message):
    from leaderboard.submit import Upload, submit

    token = store.add_team("alpha")
    data = picks_file.read_bytes()
    if case == "token":
        token = "tb_wrong"
    elif case == "oversize":
        data = b"class,x,y,z,tomo\n" + b"1s3x,1,2,3,tomo_000\n" * 4000
    elif case == "malformed":
        data = b"class,x,y,z,tomo\n1s3x,abc,2,3,tomo_000\n"
    elif case == "limit":
        for _ in range(params.daily_limit):
            submit(store, params, Upload(token, "m", "p.csv", data))
    before = store.counts()
    at = app("Submit")
    _fill_and_submit(at, token, "m", "p.csv", data)
    assert not at.exception and not at.success
    assert len(at.error) == 1 and message in shown(at.error[0])
    assert params.private_truth_dir not in shown(at.error[0])
    assert store.counts() == before


def test_blind_phase_hides_scores_everywhere(app, store, picks_file):
    set_blind(store, True)
    at = app()
    assert "Blind phase" in at.info[0].value
    assert not [df for df in at.dataframe if "f1" in df.value.columns]
    token = store.add_team("alpha")
    at = app("Submit")
    _fill_and_submit(at, token, "m", "p.csv", picks_file.read_bytes())
    assert at.success and "hidden" in at.info[0].value and not at.code and not at.metric


def test_final_phase_is_shown_once_revealed(app, store):
    at = app()
    assert at.radio(key="phase_choice").options == ["public phase (part of the test tomograms)"]
    set_phase(store, "final")
    at = app()
    assert at.radio(key="phase_choice").value == "final"
    assert len(_table(at)) == 2


def test_dataset_page(app, params):
    at = app("Dataset")
    assert "tomobench demo dataset" in at.markdown[0].value
    assert "dvc get" in at.code[0].value and "dvc import" in at.code[0].value and "--rev main" in at.code[0].value
    classes = _df(at, "class_name")
    assert list(classes["class_name"]) == ["1s3x", "3qm1", "4v94"]
    assert classes["train particles"].sum() == 6
    images = [el for el in at.main if getattr(el, "type", None) == "image"]
    assert len(images) == 3, "reconstruction, class mask, occupancy mask"
    assert len(_chart_specs(at)) == 1           # particles per class and tomogram
