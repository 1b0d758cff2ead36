"""The score report as a typed model: what ``tomobench score --out`` writes and every reader reads.

:func:`scoring.report.build_report` fills a :class:`ScoreReport` and returns its JSON form
(a plain dict, so reports stored by the leaderboard and the pipeline stay plain JSON);
:func:`scoring.report.format_report` and :func:`scoring.report.flatten_report` read reports
through it. The JSON schema is committed as ``docs/score_report.schema.json``
(``tomobench score --schema`` prints it; a test checks the two agree).
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Confusion(_Model):
    """One row per scored class of the truth (one count per ground-truth particle); the columns are
    the scored classes, any other predicted class, ``unknown`` (when predicted) and ``background``.
    """  # noqa: D205 -- this docstring is the description in the committed docs/score_report.schema.json

    rows: list[str]
    columns: list[str]
    counts: list[list[int]]


class ClassScores(_Model):
    """SHREC 2020 Table 4: a class's classification counts from the confusion matrix."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float


class CumulativeEntry(_Model):
    """SHREC 2020 Fig. 10: running sum of per-class F1, classes by increasing mass."""

    class_: str = Field(alias="class")
    mass_kda: float | None = None
    f1: float
    cumulative: float


class FBetaClass(_Model):
    """CZII F-beta counts of one class, summed over tomograms."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    fbeta: float
    present: bool = Field(True, description="the class has particles in the truth (only those enter the mean)")
    weight: float = Field(1.0, description="scoring.class_weights of the class (1 when not named)")
    radius_vox: float | None = Field(None, description="class radius, voxels")
    match_radius_vox: float | None = Field(None, description="radius_multiplier x radius_vox: the match distance")


class FBeta(_Model):
    """CZII-style F-beta: weighted mean of per-class F-beta over the classes present in the truth."""

    score: float
    beta: float
    radius_multiplier: float
    per_class: dict[str, FBetaClass]


class ScoreReport(_Model):
    """A submission's scores against a tomogram or a split (counts summed over tomograms).

    Localization (SHREC 2020 Table 3): RR picks reported, TP particles found, FP picks on
    background, FN particles missed, MH particles hit more than once, RO picks outside the
    volume (clamped), AD mean distance in voxels from each found particle's first hit (its
    rounded, clamped voxel) to the particle's centre.
    """

    RR: int
    TP: int
    FP: int
    FN: int
    MH: int
    RO: int
    AD: float
    precision: float
    recall: float
    miss_rate: float
    f1: float
    n_particles: int = Field(description="scored particles of the truth")
    ignored_picks: int = Field(description="picks on non-scored objects (membranes, filaments, ...): in RR only")
    confusion: Confusion
    per_class: dict[str, ClassScores]
    size_groups: dict[str, float] = Field(description="SHREC 2020 Table 6: mean F1 of the small/medium/large "
                                                      "classes present in the truth")
    cumulative_f1: list[CumulativeEntry]
    fbeta: FBeta
    tomograms: list[str]
    warnings: list[str]
    elapsed_s: float | None = Field(None, description="scoring time, seconds (written by tomobench score)")


def report_schema() -> dict:
    """The JSON schema of :class:`ScoreReport` (by alias: ``class`` in the cumulative entries)."""
    return ScoreReport.model_json_schema(by_alias=True)


def report_schema_json() -> str:
    """:func:`report_schema` as the text committed in ``docs/score_report.schema.json``."""
    return json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"
