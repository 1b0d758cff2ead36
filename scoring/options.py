"""Scoring options: the ``scoring`` section of ``params.yaml``, one object for every caller.

The CLI (``tomobench score``), the pipeline's ``score`` stage (which runs that CLI with
``--params params.yaml``) and the leaderboard all build their options with
:func:`load_options`: the defaults, then the ``scoring`` section of the parameter file,
then explicit overrides (the CLI's flags).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, NonNegativeFloat

from tomobench.params import Params, read_yaml, validate
from tomobench.particles import DEFAULT_MAX_PICKS

SECTION = "scoring"


class ScoringOptions(Params):
    """How a submission is scored.

    ``dilate``: dilate the occupancy mask once with a 1-voxel cross (grey-level
    max) before matching, as the official SHREC script does.
    ``fbeta_beta`` / ``radius_multiplier`` / ``class_weights``: the CZII-style
    distance F-beta (a pick matches a same-class particle within
    ``radius_multiplier`` x the class radius; the score is the mean of per-class
    F-beta over the classes present in the truth, weighted by ``class_weights``,
    1 for a class not named).
    ``max_picks``: refuse submissions with more picks.
    """

    dilate: bool = True
    fbeta_beta: float = Field(4.0, gt=0)
    radius_multiplier: float = Field(0.5, gt=0)
    class_weights: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    max_picks: int = Field(DEFAULT_MAX_PICKS, gt=0)


def load_options(params_file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ScoringOptions:
    """Defaults, then the ``scoring`` section of ``params_file`` (when given), then ``overrides``.

    Raises :class:`~tomobench.errors.InputError` naming the file and the key for a bad value.
    """
    section: dict[str, Any] = {}
    source: str | Path = "command line"
    if params_file is not None:
        section = dict(read_yaml(params_file).get(SECTION) or {})
        source = params_file
        validate(ScoringOptions, section, source=params_file, section=SECTION)
    merged = {**section, **(overrides or {})}
    return validate(ScoringOptions, merged, source=source if not overrides else f"{source} + command line",
                    section=SECTION)
