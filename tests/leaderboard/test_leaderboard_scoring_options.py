"""An upload is scored with the `scoring` section of the leaderboard's params file, as the pipeline scores."""

from __future__ import annotations

import pytest
import yaml

import scoring
from leaderboard.config import ENV_PARAMS
from leaderboard.scoring_cache import scoring_options
from leaderboard.submit import Upload, submit


def _params_yaml(path, **section):
    path.write_text(yaml.safe_dump({"scoring": section}), encoding="utf-8")
    return path


def test_upload_uses_the_params_scoring_section(params, store, picks_file, dataset, tmp_path, monkeypatch):
    truth = dataset / "private" / "test"
    token = store.add_team("alpha")
    figures = {}
    for multiplier, weights in ((0.1, {}), (2.0, {"1s3x": 0.0})):
        path = _params_yaml(tmp_path / f"p{multiplier}.yaml", radius_multiplier=multiplier, class_weights=weights)
        monkeypatch.setenv(ENV_PARAMS, str(path))
        assert scoring_options() == scoring.ScoringOptions(radius_multiplier=multiplier, class_weights=weights)
        result = submit(store, params, Upload(token, f"m{multiplier}", "picks.csv", picks_file.read_bytes()))
        final = result.reports["final"]["fbeta"]
        # the same figure as the scorer run directly with those options
        expected = scoring.score_file(picks_file, truth, options=scoring.load_options(path))["fbeta"]
        assert final["score"] == pytest.approx(expected["score"])
        assert final["radius_multiplier"] == multiplier
        assert final["per_class"]["1s3x"]["weight"] == (0.0 if weights else 1.0)
        figures[multiplier] = final["score"]
    # demo picks are jittered by up to 0.5 voxel per axis: the wider match finds more of them
    assert figures[0.1] < figures[2.0]


def test_options_of_an_explicit_file_win_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_PARAMS, str(_params_yaml(tmp_path / "env.yaml", fbeta_beta=2.0)))
    assert scoring_options().fbeta_beta == 2.0
    assert scoring_options(_params_yaml(tmp_path / "own.yaml", fbeta_beta=1.0)).fbeta_beta == 1.0
