"""The SHREC scorer: localization and classification metrics, per class and per size group.

Public API: :func:`score_file`, :func:`score_particles`, :func:`load_truths`,
:func:`prepare_truth` (:class:`PreparedTruth`: a truth's classes and radii derived once),
:func:`score_particles_on` (one list against several truths, shared tomograms counted once),
:func:`read_submission`, :func:`format_report`, :func:`flatten_report`,
:func:`as_report`, :class:`ScoringOptions`, :func:`load_options` (options from ``params.yaml``),
:class:`ScoreReport` (the report's typed model). See ``docs/scoring.md``.
"""

from scoring.api import (
    PreparedTruth,
    load_truths,
    prepare_truth,
    read_submission,
    score_file,
    score_particles,
    score_particles_on,
)
from scoring.options import ScoringOptions, load_options
from scoring.report import FLAT_COLUMNS, as_report, flatten_report, format_report
from scoring.report_model import ScoreReport

__all__ = ["score_file", "score_particles", "score_particles_on", "load_truths", "prepare_truth", "PreparedTruth",
           "read_submission", "format_report", "flatten_report", "as_report", "ScoringOptions", "load_options",
           "ScoreReport", "FLAT_COLUMNS"]
