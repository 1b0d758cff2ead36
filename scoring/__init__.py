"""The SHREC scorer: localization and classification metrics, per class and per size group.

Public API: :func:`score_file`, :func:`score_particles`, :func:`load_truths`,
:func:`read_submission`, :func:`format_report`, :func:`flatten_report`,
:class:`ScoringOptions`. See ``docs/scoring.md``.
"""

from scoring.api import load_truths, read_submission, score_file, score_particles
from scoring.options import ScoringOptions
from scoring.report import FLAT_COLUMNS, flatten_report, format_report

__all__ = ["score_file", "score_particles", "load_truths", "read_submission", "format_report", "flatten_report",
           "ScoringOptions", "FLAT_COLUMNS"]
