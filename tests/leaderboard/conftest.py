"""Fixtures of the leaderboard tests: a tiny ground-truth dataset scored with the real scorer."""

from __future__ import annotations

import numpy as np
import pytest

from leaderboard import demo
from leaderboard.config import LeaderboardParams
from leaderboard.store import Store
from tomobench.particles import write_particles

BASELINES = {"dog": {"recall": 0.6, "wrong_class": 0.4}, "tm": {"recall": 0.9, "wrong_class": 0.1}}


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    """Public/private folders (3 test tomograms of 32^3 voxels, 6 spheres each) + results.parquet."""
    root = tmp_path_factory.mktemp("lbdata")
    demo.make_dataset(root, n_train=1, n_test=3, shape_zyx=(32, 32, 32), n_particles=6, seed=7)
    demo.write_results(root, BASELINES, dataset="demo", seed=3)
    return root


@pytest.fixture
def params(dataset, tmp_path):
    """Parameters with a fresh store for each test."""
    return LeaderboardParams(data_dir=str(tmp_path / "store"), public_dir=str(dataset / "public"),
                             private_truth_dir=str(dataset / "private" / "test"),
                             results_path=str(dataset / "results.parquet"), dataset="demo", daily_limit=3,
                             max_file_mb=0.05)


@pytest.fixture
def store(params):
    return Store(params.data_dir)


@pytest.fixture
def picks_file(dataset, tmp_path):
    """A participant-like CSV submission for all test tomograms."""
    picks = demo.make_picks(dataset / "private" / "test", np.random.default_rng(11), recall=0.8)
    return write_particles(picks, tmp_path / "my picks.csv", "csv")


@pytest.fixture
def params_file(params, tmp_path):
    """The same parameters as a params.yaml (for the app and the CLI)."""
    import yaml

    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"leaderboard": params.model_dump()}), encoding="utf-8")
    return path


@pytest.fixture
def app_factory(params, params_file, store, monkeypatch):
    """start(page) -> a Streamlit AppTest of the app on that page (the pipeline's results imported)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    import leaderboard
    from leaderboard.config import ENV_DATA_DIR, ENV_PARAMS
    from leaderboard.exchange import import_results

    monkeypatch.setenv(ENV_PARAMS, str(params_file))
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    import_results(store, params)
    app = str(Path(leaderboard.__file__).with_name("app.py"))

    def start(page: str = "Leaderboard") -> AppTest:
        at = AppTest.from_file(app, default_timeout=60)
        at.run()
        if page != "Leaderboard":
            at.sidebar.radio(key="page").set_value(page).run()
        assert not at.exception, at.exception
        return at
    return start
