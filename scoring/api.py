"""Scoring a submission against one tomogram or a split: the functions other parts call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.options import ScoringOptions
from scoring.report import build_report
from scoring.tally import Tally, tally_tomogram
from tomobench.classes import NON_PARTICLE_KINDS, ClassTable
from tomobench.errors import InputError
from tomobench.groundtruth import GroundTruth, load_truths
from tomobench.particles import DEFAULT_MAX_PICKS, check_classes, read_particles


def scored_classes(truths: dict[str, GroundTruth]) -> tuple[list[str], list[str], ClassTable | None]:
    """The scored class names, all valid class names and the class table of a set of truths.

    Parameters
    ----------
    truths : dict of str to GroundTruth
        Tomogram name -> ground truth.

    Returns
    -------
    scored : list of str
        The class names that count in the scores (the class table's scored classes, else every
        class of the particle lists except the non-particle kinds).
    valid : list of str
        Every class name a pick may carry.
    table : ClassTable or None
        The first class table among the truths; None when no truth has one.
    """
    table = next((t.classes for t in truths.values() if t.classes is not None), None)
    if table is not None:
        return table.scored_names, table.names, table
    names = sorted(set().union(*(set(t.particles["class"]) for t in truths.values())))
    return [n for n in names if n not in NON_PARTICLE_KINDS], names, None


def _radius_voxels(truths: dict[str, GroundTruth], table: ClassTable | None, scored: list[str]) -> dict[str, float]:
    """F-beta radius per class in voxels: the class table's radius, else the equivalent sphere of its masks."""
    voxel_size_a = next(iter(truths.values())).voxel_size_a or 10.0
    out: dict[str, float] = {}
    if table is not None:
        for cls in scored:
            row = table.row(cls)
            radius_nm = row["radius_nm"] if np.isfinite(row["radius_nm"]) else row["eff_radius_nm"]
            if np.isfinite(radius_nm):
                out[cls] = float(radius_nm) * 10.0 / voxel_size_a
    missing = [c for c in scored if c not in out]
    if missing:
        volumes: dict[str, list[int]] = {c: [] for c in missing}
        for t in truths.values():
            counts = np.bincount(np.asarray(t.occupancy, dtype=np.int64).ravel(), minlength=len(t.particles) + 1)
            for pid, cls in enumerate(t.particles["class"], start=1):
                if cls in volumes:
                    volumes[cls].append(int(counts[pid]))
        for cls, vols in volumes.items():
            out[cls] = float((3 * np.mean(vols) / (4 * np.pi)) ** (1 / 3)) if vols else float("nan")
    return out


@dataclass(frozen=True)
class PreparedTruth:
    """Loaded truths and what scoring derives from them alone, computed once (:func:`prepare_truth`).

    Scoring many submissions against one truth (the leaderboard) then repeats none of this work;
    the scores are those of scoring against the truths themselves.

    Attributes
    ----------
    truths : dict of str to GroundTruth
        Tomogram name -> ground truth, in scoring order.
    scored, valid : list of str
        The scored class names and every class name a pick may carry (:func:`scored_classes`).
    table : ClassTable or None
        The class table of the truths.
    radius_vox : dict of str to float
        Class radius per scored class in voxels (the F-beta match radius before ``radius_multiplier``).
    """

    truths: dict[str, GroundTruth]
    scored: list[str]
    valid: list[str]
    table: ClassTable | None
    radius_vox: dict[str, float]

    def subset(self, names: list[str]) -> "PreparedTruth":
        """The prepared truth of the tomograms ``names`` only (in that order), as if loaded alone."""
        return prepare_truth({name: self.truths[name] for name in names})


def prepare_truth(truth: "str | Path | dict[str, GroundTruth] | PreparedTruth") -> PreparedTruth:
    """Load ``truth`` (a folder, a split folder or loaded truths) and derive its classes and radii once.

    Parameters
    ----------
    truth : str, Path, dict of str to GroundTruth or PreparedTruth
        A ground-truth folder, a split folder, the truths already loaded, or a prepared truth
        (returned as it is).

    Returns
    -------
    PreparedTruth
        The truths with their scored and valid classes, class table and class radii (voxels).
    """
    if isinstance(truth, PreparedTruth):
        return truth
    truths = load_truths(truth)
    scored, valid, table = scored_classes(truths)
    return PreparedTruth(truths, scored, valid, table, _radius_voxels(truths, table, scored))


def split_by_tomogram(picks: pd.DataFrame, names: list[str], source: str | Path) -> dict[str, pd.DataFrame]:
    """Assign picks to tomograms by their ``tomo`` column.

    The column comes from CSV ``tomo``, STAR ``rlnTomoName`` or copick ``run_name``. A SHREC .txt
    file names no tomogram, so it can only be scored against one.

    Parameters
    ----------
    picks : pandas.DataFrame
        Particle list (:data:`tomobench.particles.PICK_COLUMNS`, N rows), in submission order.
    names : list of str
        The tomogram names of the truth.
    source : str or Path
        The submission, named in error messages.

    Returns
    -------
    dict of str to pandas.DataFrame
        Tomogram name -> its picks (possibly empty), for every name of ``names``.

    Raises
    ------
    InputError
        When the picks name no tomogram but the truth holds several, when only some picks name one,
        or when a pick names a tomogram the truth does not hold.
    """
    tomo = picks["tomo"].to_numpy(dtype=object)         # numpy comparisons: several times faster than pandas'
    named = tomo != ""
    if not named.any():
        if len(names) == 1:
            return {names[0]: picks}
        raise InputError(f"the truth holds {len(names)} tomograms ({', '.join(names)}) but the picks name none. "
                         f"A SHREC .txt file cannot name its tomogram: score each tomogram's file against its "
                         f"own folder (--truth SPLIT/{names[0]}), or submit CSV with a 'tomo' column, STAR with "
                         f"rlnTomoName or copick JSON with run_name", source)
    if not named.all():
        first = picks.iloc[int(np.argmin(named))]
        raise InputError("this pick names no tomogram while others do; give every pick its tomogram",
                         source, int(first["line"]) or None)
    unknown = ~picks["tomo"].isin(names)
    if len(names) == 1 and unknown.all() and picks["tomo"].nunique() == 1:
        raise InputError(f"the picks are for tomogram {picks['tomo'].iloc[0]!r} but the truth is {names[0]!r}",
                         source, int(picks["line"].iloc[0]) or None)
    if unknown.any():
        first = picks[unknown].iloc[0]
        raise InputError(f"unknown tomogram {first['tomo']!r}; the truth holds {', '.join(names)}",
                         source, int(first["line"]) or None)
    return {name: picks[tomo == name] for name in names}


def check_class_weights(weights: dict[str, float], scored: list[str]) -> None:
    """Refuse ``scoring.class_weights`` that name a class the truth does not score.

    Parameters
    ----------
    weights : dict of str to float
        Class name -> F-beta weight (dimensionless).
    scored : list of str
        The scored class names of the truth.

    Raises
    ------
    InputError
        When ``weights`` names a class that is not in ``scored``.
    """
    unknown = sorted(set(weights) - set(scored))
    if unknown:
        raise InputError(f"scoring.class_weights names {', '.join(map(repr, unknown))}, not a scored class; "
                         f"the scored classes are: {', '.join(scored)}", "scoring options")


def score_particles(picks: pd.DataFrame, truth, options: ScoringOptions | None = None, *,
                    source: str | Path = "<submission>") -> dict:
    """Score an in-memory particle list (:mod:`tomobench.particles`) against ``truth``.

    Counts are summed over tomograms before ratios are taken (SHREC).

    Parameters
    ----------
    picks : pandas.DataFrame
        Particle list (:data:`tomobench.particles.PICK_COLUMNS`, N rows): ``x y z`` in voxels of the
        truth (0-based), ``class`` a valid class name, ``tomo`` the tomogram name (``""`` for one).
    truth : str, Path, dict of str to GroundTruth or PreparedTruth
        A ground-truth folder, a split folder, the truths already loaded (tomogram name -> truth), or
        those prepared once by :func:`prepare_truth` (the same scores, less work per call).
    options : ScoringOptions, optional
        Dilation, F-beta beta, radius multiplier and class weights; the defaults when None.
    source : str or Path
        The submission, named in error messages.

    Returns
    -------
    dict
        The JSON report (:class:`scoring.report_model.ScoreReport`, dumped by alias).

    Raises
    ------
    InputError
        When a pick names an unknown class or tomogram, or a class weight names an unscored class.
    """
    return _score_prepared(picks, prepare_truth(truth), options or ScoringOptions(), source, None)


def _score_prepared(picks: pd.DataFrame, prepared: PreparedTruth, options: ScoringOptions, source: str | Path,
                    tallies: dict[tuple, Tally] | None) -> dict:
    """:func:`score_particles`; ``tallies`` keeps each tomogram's counts for another truth holding it."""
    truths, scored, table = prepared.truths, prepared.scored, prepared.table
    check_classes(picks, prepared.valid, source)
    warnings = []
    duplicated = int(picks.duplicated(subset=["class", "x", "y", "z", "tomo"]).sum())
    if duplicated:
        warnings.append(f"{duplicated} duplicate pick(s) (same class, position and tomogram); "
                        f"each counts in RR and extra hits count as multiple hits")
    check_class_weights(options.class_weights, scored)
    radius = prepared.radius_vox
    match_radius = {cls: r * options.radius_multiplier for cls, r in radius.items()}
    total = Tally()
    for name, tomo_picks in split_by_tomogram(picks, list(truths), source).items():
        # a tomogram's counts depend only on its picks (the same rows for every truth holding it), its truth,
        # the scored classes and the match radii: another truth agreeing on those adds the same Tally
        key = (name, id(truths[name]), tuple(scored), tuple(sorted(match_radius.items())), options.dilate)
        tally = tallies.get(key) if tallies is not None else None
        if tally is None:
            t = truths[name]
            tally = tally_tomogram(tomo_picks, t.particles, t.occupancy, set(scored), match_radius,
                                   dilate=options.dilate)
            if tallies is not None:
                tallies[key] = tally
        total = total + tally
    if total.RO:
        warnings.append(f"{total.RO} pick(s) outside the volume were clamped to its border (RO)")
    return build_report(total, scored, table, options=options, radius_vox=radius, warnings=warnings,
                        tomograms=list(truths))


def score_particles_on(picks: pd.DataFrame, truths: dict[str, PreparedTruth], options: ScoringOptions | None = None,
                       *, source: str | Path = "<submission>") -> dict[str, dict]:
    """Score one particle list against several prepared truths, e.g. subsets of one test split.

    Each truth is scored with the picks of its own tomograms (and those naming none: the scorer
    decides where they belong); the report of each equals :func:`score_particles` of those picks
    against that truth. A tomogram held by several truths is counted once (its tally is added to
    each), so scoring the leaderboard's public phase after its final phase costs little.

    Parameters
    ----------
    picks : pandas.DataFrame
        Particle list (:data:`tomobench.particles.PICK_COLUMNS`, N rows), positions in voxels.
    truths : dict of str to PreparedTruth
        Name (a phase) -> prepared truth (:func:`prepare_truth`, :meth:`PreparedTruth.subset`); scored in
        this order, so the first raises first.
    options : ScoringOptions, optional
        The scoring options; the defaults when None.
    source : str or Path
        The submission, named in error messages.

    Returns
    -------
    dict of str to dict
        Name -> the JSON report (:class:`scoring.report_model.ScoreReport`, dumped by alias).
    """
    options = options or ScoringOptions()
    tallies: dict[tuple, Tally] = {}
    tomo = picks["tomo"].to_numpy(dtype=object)
    out = {}
    for key, prepared in truths.items():
        keep = np.isin(tomo, list(prepared.truths)) | (tomo == "")
        part = picks if keep.all() else picks[keep].reset_index(drop=True)
        out[key] = _score_prepared(part, prepared, options, source, tallies)
    return out


def read_submission(submission: str | Path, truths: dict[str, GroundTruth], *, fmt: str | None = None,
                    max_picks: int = DEFAULT_MAX_PICKS, voxel_size_a: float | None = None) -> pd.DataFrame:
    """Read a submission file as the scorer does.

    STAR class numbers map through the truth's class table; copick positions (Å) are converted with
    the truth's voxel size unless ``voxel_size_a`` is given.

    Parameters
    ----------
    submission : str or Path
        The particle-list file (SHREC .txt, CSV, STAR or copick JSON).
    truths : dict of str to GroundTruth
        Tomogram name -> ground truth; the first gives the class table, voxel size and volume shape.
    fmt : str, optional
        Force a format of :data:`tomobench.particles.FORMATS`; detected from the file when None.
    max_picks : int
        Refuse files with more picks than this.
    voxel_size_a : float, optional
        Voxel size in Å per voxel for Å coordinates; the truth's when None.

    Returns
    -------
    pandas.DataFrame
        The particle list (:data:`tomobench.particles.PICK_COLUMNS`), positions in voxels.
    """
    any_truth = next(iter(truths.values()))
    label_to_class = any_truth.classes.name_of_label() if any_truth.classes is not None else None
    picks = read_particles(submission, fmt, voxel_size_a=voxel_size_a or any_truth.voxel_size_a,
                           label_to_class=label_to_class, max_picks=max_picks,
                           tomo_shape_xyz=any_truth.occupancy.shape[::-1])
    check_coordinates(picks, submission)
    return picks


MAX_COORDINATE_VOXELS = 1e6     # beyond any tomogram by orders of magnitude; larger values overflow the matcher


def check_coordinates(picks: pd.DataFrame, source: str | Path) -> None:
    """Refuse coordinates no tomogram can have (they would overflow the integer voxel look-up).

    Parameters
    ----------
    picks : pandas.DataFrame
        A particle list with ``x y z`` in voxels and the source ``line`` of each pick.
    source : str or Path
        The submission, named in the error.

    Raises
    ------
    InputError
        For the first coordinate above :data:`MAX_COORDINATE_VOXELS` in magnitude, with its line
        (SHREC text, CSV) or pick number (STAR, copick JSON).
    """
    xyz = picks[["x", "y", "z"]].to_numpy(dtype=float)
    bad = np.abs(xyz) > MAX_COORDINATE_VOXELS
    if bad.any():
        row, col = np.argwhere(bad)[0]
        line = int(picks["line"].iloc[row]) if "line" in picks else row + 1
        where = line if Path(source).suffix.lower() in (".txt", ".csv") else f"pick {line}"   # JSON/STAR: index
        raise InputError(f"{'xyz'[col]} is {xyz[row, col]:g} voxels, far outside any tomogram; coordinates "
                         f"are in voxels, at most {MAX_COORDINATE_VOXELS:g} in magnitude", source, where or None)


def score_file(submission: str | Path, truth, *, fmt: str | None = None, max_picks: int | None = None,
               voxel_size_a: float | None = None, options: ScoringOptions | None = None) -> dict:
    """Read a submission file in any format of docs/conventions.md and score it against ``truth``.

    Parameters
    ----------
    submission : str or Path
        The particle-list file (SHREC .txt, CSV, STAR or copick JSON).
    truth : str, Path or dict of str to GroundTruth
        A ground-truth folder, a split folder, or the truths already loaded.
    fmt : str, optional
        Force a format of :data:`tomobench.particles.FORMATS`; detected from the file when None.
    max_picks : int, optional
        Refuse files with more picks than this; ``options.max_picks`` when None.
    voxel_size_a : float, optional
        Voxel size in Å per voxel for Å coordinates; the truth's when None.
    options : ScoringOptions, optional
        The scoring options; the defaults when None.

    Returns
    -------
    dict
        The JSON report (:class:`scoring.report_model.ScoreReport`, dumped by alias).
    """
    options = options or ScoringOptions()
    truths = load_truths(truth)
    picks = read_submission(submission, truths, fmt=fmt, max_picks=max_picks or options.max_picks,
                            voxel_size_a=voxel_size_a)
    return score_particles(picks, truths, options, source=submission)
