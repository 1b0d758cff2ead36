"""Leaderboard parameters: the ``leaderboard`` section of ``params.yaml``.

All paths are relative to the working directory the app or CLI runs in (the
repository root for ``make leaderboard``). The organizer may override the data
directory and the parameter file on the command line; the Streamlit app
receives both through the environment variables :data:`ENV_DATA_DIR` and
:data:`ENV_PARAMS` (set by ``tomobench leaderboard serve``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator

from tomobench.params import Params, load_section

ENV_DATA_DIR = "TOMOBENCH_LEADERBOARD_DATA_DIR"
ENV_PARAMS = "TOMOBENCH_LEADERBOARD_PARAMS"
SECTION = "leaderboard"
PHASES = ("public", "final")


class LeaderboardParams(Params):
    """Where the leaderboard keeps its store and finds the dataset; submission limits.

    ``public_tomos`` names the test tomograms scored in the public phase; when
    empty, the first ``ceil(public_fraction * n)`` test tomograms in sorted
    order are public (at least one). The final phase always scores all of them.
    """

    data_dir: str = "data/leaderboard"                 # SQLite store + content-addressed files
    public_dir: str = "data/public"                    # what participants download (dataset card, train)
    private_truth_dir: str = "data/private/test"       # test ground truth: never served
    results_path: str = "data/results.parquet"         # the DVC pipeline's results table
    dataset: str = "default"                           # dataset version new uploads are scored on
    daily_limit: int = Field(5, ge=1)                  # submissions per team per UTC day
    max_file_mb: float = Field(20.0, gt=0)             # largest accepted upload
    max_picks: int = Field(1_000_000, ge=1)
    public_fraction: float = Field(0.5, gt=0, le=1)
    public_tomos: list[str] = []
    repo_url: str = "https://github.com/tomobench/tomobench"   # for the dvc get / dvc import commands
    rev: str = "main"                                  # git revision (tag) of the dataset version

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the dataset name is empty")
        return value.strip()

    @property
    def max_file_bytes(self) -> int:
        """The upload size limit ``max_file_mb`` in bytes (1 MB = 1024 * 1024 bytes)."""
        return int(self.max_file_mb * 1024 * 1024)


def load_params(params_file: str | Path | None = None, data_dir: str | Path | None = None) -> LeaderboardParams:
    """The leaderboard's parameters, layered.

    Defaults, then the ``leaderboard`` section of ``params_file`` (if given or found as
    ``$TOMOBENCH_LEADERBOARD_PARAMS``), then ``data_dir`` (or ``$TOMOBENCH_LEADERBOARD_DATA_DIR``).

    Parameters
    ----------
    params_file : str or Path, optional
        A parameter file with a ``leaderboard`` section.
    data_dir : str or Path, optional
        The store directory, overriding the file's ``data_dir``.
    """
    params_file = params_file or os.environ.get(ENV_PARAMS) or None
    params = load_section(params_file, SECTION, LeaderboardParams) if params_file else LeaderboardParams()
    data_dir = data_dir or os.environ.get(ENV_DATA_DIR) or None
    if data_dir:
        params.data_dir = str(data_dir)
    return params
