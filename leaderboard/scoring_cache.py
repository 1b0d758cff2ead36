"""What uploads are scored with, read once per server process and again only when a file changes.

Every upload is scored against the private test truth with the ``scoring`` section of the
parameter file. Reading the truth (occupancy maps, particle lists, class table), deriving its
classes and radii and parsing the parameter file is most of the work that does not depend on
the upload, so a :class:`ScoringCache` keeps it: :meth:`ScoringCache.get` compares a stamp of the
files, ``(path, mtime, size)`` of every file of the truth, of its ``classes.csv`` and of the
parameter file, and reads them again only when the stamp changed (a truth fix, a new
``scoring`` section). The scores are those of reading everything afresh.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import scoring
from leaderboard.config import ENV_PARAMS, LeaderboardParams
from leaderboard.phases import public_tomograms
from tomobench.groundtruth import find_classes_csv


@dataclass(frozen=True)
class ScoringSetup:
    """What every upload is scored with (read-only: shared by every session of the server).

    Attributes
    ----------
    truth : dict of str to scoring.PreparedTruth
        Phase -> the truth it scores against: ``final`` every test tomogram, ``public`` those of
        :func:`~leaderboard.phases.public_tomograms` (the same object when they are all of them).
    options : scoring.ScoringOptions
        The ``scoring`` section of the parameter file (:func:`scoring_options`).
    """

    truth: dict[str, scoring.PreparedTruth]
    options: scoring.ScoringOptions


def params_file_in_use(params_file: str | Path | None = None) -> Path | None:
    """The parameter file whose ``scoring`` section uploads are scored with.

    ``params_file`` when given, else ``$TOMOBENCH_LEADERBOARD_PARAMS`` (set by ``tomobench
    leaderboard serve --params``), else ``./params.yaml`` when present, else None (the defaults).
    """
    default = "params.yaml" if Path("params.yaml").is_file() else None
    chosen = params_file or os.environ.get(ENV_PARAMS) or default
    return Path(chosen) if chosen else None


def scoring_options(params_file: str | Path | None = None) -> scoring.ScoringOptions:
    """The ``scoring`` section of the parameter file the leaderboard runs with (:func:`params_file_in_use`).

    It makes uploads scored as the pipeline's ``score`` stage scores them.

    Parameters
    ----------
    params_file : str or Path, optional
        The parameter file; default ``$TOMOBENCH_LEADERBOARD_PARAMS``, else ``./params.yaml``.
    """
    return scoring.load_options(params_file_in_use(params_file))


def file_stamp(path: str | Path) -> tuple:
    """``(path, mtime in ns, size in bytes)`` of a file; ``(path, None, None)`` when it is missing."""
    try:
        stat = Path(path).stat()
    except OSError:
        return (str(path), None, None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def truth_stamp(params: LeaderboardParams) -> tuple:
    """Changes when any file of the private truth changes, or the ``classes.csv`` it uses."""
    root = Path(params.private_truth_dir)
    if not root.is_dir():
        return (str(root), None)
    files = tuple(file_stamp(p) for p in sorted(root.rglob("*")) if p.is_file())
    classes = find_classes_csv(root)
    return (str(root.resolve()), files, file_stamp(classes) if classes else None)


def load_setup(params: LeaderboardParams, params_file: str | Path | None = None) -> ScoringSetup:
    """Read the private truth and the scoring options afresh (raises InputError for a bad truth or file).

    Parameters
    ----------
    params : LeaderboardParams
        Where the truth is and which test tomograms are public.
    params_file : str or Path, optional
        The parameter file of the ``scoring`` section (:func:`params_file_in_use`).
    """
    final = scoring.prepare_truth(params.private_truth_dir)
    names = public_tomograms(params)
    public = final if set(names) == set(final.truths) else final.subset(names)
    return ScoringSetup({"final": final, "public": public}, scoring_options(params_file))


class ScoringCache:
    """The :class:`ScoringSetup` of one parameter set, kept while its files stay unchanged.

    One per server process (the Submit page keeps it in Streamlit's resource cache); safe to share
    between threads: one thread reads the files while the others wait for it. A setup that cannot
    be loaded raises and is not kept.

    Parameters
    ----------
    params : LeaderboardParams
        The leaderboard's parameters.
    params_file : str or Path, optional
        The parameter file of the ``scoring`` section; resolved at every :meth:`get` by
        :func:`params_file_in_use` when None.
    """

    def __init__(self, params: LeaderboardParams, params_file: str | Path | None = None,
                 max_concurrent: int | None = None):
        self.params = params
        self.params_file = params_file
        self.loads = 0                  # how often the files were read (for the tests and the benchmark)
        # Scoring holds the GIL most of the time, and many threads scoring at once thrash it: 50 uploads
        # at once (bench_leaderboard.py, quiet, 2 cores) were all done in 3.0 s with no limit, 1.6 s
        # with one scoring thread per core while the others wait their turn.
        self.max_concurrent = max_concurrent or os.cpu_count() or 1
        self.slots = threading.BoundedSemaphore(self.max_concurrent)
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._setup: ScoringSetup | None = None

    def stamp(self) -> tuple:
        """The stamp the kept setup is valid for: the truth's files and the parameter file."""
        path = params_file_in_use(self.params_file)
        return (truth_stamp(self.params), file_stamp(path.resolve()) if path else None)

    def get(self) -> ScoringSetup:
        """The setup, read again first when a file changed since it was read."""
        key = self.stamp()              # taken before reading: a change while reading triggers another read
        with self._lock:
            if self._setup is None or key != self._key:
                self._setup = load_setup(self.params, params_file_in_use(self.params_file))
                self._key = key
                self.loads += 1
            return self._setup
