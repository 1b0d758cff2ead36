"""Scoring options (the ``scoring`` section of ``params.yaml``)."""

from __future__ import annotations

from pydantic import Field

from tomobench.params import Params
from tomobench.particles import DEFAULT_MAX_PICKS


class ScoringOptions(Params):
    """How a submission is scored.

    ``dilate``: dilate the occupancy mask once with a 1-voxel cross (grey-level
    max) before matching, as the official SHREC script does.
    ``fbeta_beta`` / ``radius_multiplier`` / ``class_weights``: the CZII-style
    distance F-beta (a pick matches a same-class particle within
    ``radius_multiplier`` x the class radius).
    """

    dilate: bool = True
    fbeta_beta: float = Field(4.0, gt=0)
    radius_multiplier: float = Field(0.5, gt=0)
    class_weights: dict[str, float] = Field(default_factory=dict)
    max_picks: int = Field(DEFAULT_MAX_PICKS, gt=0)
