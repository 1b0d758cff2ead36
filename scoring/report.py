"""From summed tallies to the SHREC report (SHREC 2020 Tables 3, 4, 6; Figs. 10, 12) and F-beta."""

from __future__ import annotations

import numpy as np

from scoring.options import ScoringOptions
from scoring.report_model import ScoreReport
from scoring.tally import Tally
from tomobench.classes import BACKGROUND, SIZE_GROUPS, UNKNOWN_CLASS, ClassTable


def _ratio(num: float, den: float) -> float:
    return float(num) / den if den else 0.0


def f1_score(precision: float, recall: float) -> float:
    """The harmonic mean of ``precision`` and ``recall`` (both in [0, 1]); 0 when both are 0."""
    return _ratio(2 * precision * recall, precision + recall)


def fbeta_score(precision: float, recall: float, beta: float) -> float:
    """F-beta of ``precision`` and ``recall`` (both in [0, 1]); recall weighs ``beta`` times as much.

    Parameters
    ----------
    precision, recall : float
        In [0, 1].
    beta : float
        Dimensionless, > 0 (CZII uses 4, the default of ``scoring.fbeta_beta``).

    Returns
    -------
    float
        ``(1 + beta**2) P R / (beta**2 P + R)``; 0 when the denominator is 0.
    """
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def build_report(tally: Tally, scored: list[str], classes: ClassTable | None, *, options: ScoringOptions,
                 radius_vox: dict[str, float], warnings: list[str], tomograms: list[str]) -> dict:
    """The JSON report (:class:`scoring.report_model.ScoreReport`) from the tally summed over tomograms.

    Parameters
    ----------
    tally : Tally
        The counts summed over the tomograms.
    scored : list of str
        The scored class names, in report order.
    classes : ClassTable or None
        The class table (size groups, masses); without it the size groups are empty.
    options : ScoringOptions
        The scoring options (F-beta beta, radius multiplier, class weights).
    radius_vox : dict of str to float
        The class radius per scored class in voxels (F-beta matches within
        ``options.radius_multiplier`` times it).
    warnings : list of str
        Warnings so far; the report appends its own to a copy.
    tomograms : list of str
        The names of the tomograms scored.

    Returns
    -------
    dict
        The validated report, dumped by alias.
    """
    warnings = list(warnings)
    precision = _ratio(tally.TP, tally.RR)
    recall = _ratio(tally.TP, tally.n_particles)
    if tally.TP == 0:
        warnings.append("no pick hit a particle: localization and classification scores are 0 "
                        "(the official SHREC script stops here)")
    report: dict = {
        "RR": tally.RR, "TP": tally.TP, "FP": tally.FP, "FN": tally.FN, "MH": tally.MH, "RO": tally.RO,
        "AD": float(np.mean(tally.distances)) if tally.distances else 0.0,
        "precision": precision, "recall": recall,
        "miss_rate": _ratio(tally.FN, tally.n_particles),
        "f1": f1_score(precision, recall),
        "n_particles": tally.n_particles, "ignored_picks": tally.ignored_picks,
    }
    confusion = _confusion(tally, scored)
    report["confusion"] = confusion
    report["per_class"], absent = _per_class(confusion, scored)
    for cls in absent:
        warnings.append(f"class {cls!r} has no particle in the truth: its scores are 0 and it is left "
                        f"out of the size-group means")
    report["size_groups"] = _size_groups(report["per_class"], classes, absent, warnings)
    report["cumulative_f1"] = _cumulative(report["per_class"], classes, absent)
    report["fbeta"] = _fbeta(tally, scored, options, radius_vox, warnings)
    report["tomograms"] = list(tomograms)
    report["warnings"] = warnings
    return ScoreReport.model_validate(report).model_dump(by_alias=True)


def _confusion(tally: Tally, scored: list[str]) -> dict:
    predicted = {p for (_, p) in tally.confusion}
    extra = sorted(predicted - set(scored) - {BACKGROUND, UNKNOWN_CLASS})
    columns = list(scored) + extra + ([UNKNOWN_CLASS] if UNKNOWN_CLASS in predicted else []) + [BACKGROUND]
    counts = [[int(tally.confusion.get((t, p), 0)) for p in columns] for t in scored]
    return {"rows": list(scored), "columns": columns, "counts": counts}


def _per_class(confusion: dict, scored: list[str]) -> tuple[dict, list[str]]:
    """Per-class tp/fp/fn/precision/recall/F1 from the confusion matrix (SHREC 2020 Table 4)."""
    counts = np.array(confusion["counts"], dtype=int).reshape(len(scored), len(confusion["columns"]))
    out, absent = {}, []
    for i, cls in enumerate(scored):
        j = confusion["columns"].index(cls)
        tp = int(counts[i, j])
        fn = int(counts[i].sum() - tp)
        fp = int(counts[:, j].sum() - tp)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        out[cls] = {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall,
                    "f1": f1_score(precision, recall)}
        if counts[i].sum() == 0:
            absent.append(cls)
    return out, absent


def _size_groups(per_class: dict, classes: ClassTable | None, absent: list[str], warnings: list[str]) -> dict:
    """Size-group F1 = mean F1 of the group's classes present in the truth (SHREC 2020 Table 6)."""
    groups = classes.groups() if classes is not None else {g: [] for g in SIZE_GROUPS}
    out = {}
    for group in SIZE_GROUPS:
        members = [c for c in groups.get(group, []) if c in per_class and c not in absent]
        out[group] = float(np.mean([per_class[c]["f1"] for c in members])) if members else 0.0
        if not members:
            warnings.append(f"size group {group!r} has no class in the truth: its F1 is reported as 0")
    return out


def _cumulative(per_class: dict, classes: ClassTable | None, absent: list[str]) -> list[dict]:
    """Running sum of per-class F1, classes by increasing mass (SHREC 2020 Fig. 10, a stacked bar)."""
    mass = {}
    if classes is not None:
        mass = dict(zip(classes.table["class_name"], classes.table["mass_kda"]))
    order = sorted((c for c in per_class if c not in absent),
                   key=lambda c: (np.nan_to_num(mass.get(c, np.nan), nan=np.inf), c))
    total, out = 0.0, []
    for cls in order:
        total += per_class[cls]["f1"]
        out.append({"class": cls, "mass_kda": _json_float(mass.get(cls)), "f1": per_class[cls]["f1"],
                    "cumulative": total})
    return out


def _fbeta(tally: Tally, scored: list[str], options: ScoringOptions, radius_vox: dict[str, float],
           warnings: list[str]) -> dict:
    """CZII F-beta: per class from tp/fp/fn summed over tomograms, then the weighted mean.

    The mean is over the classes present in the truth (CZII averages over the classes of its solution).
    """
    per_class, weighted, weight_sum = {}, 0.0, 0.0
    for cls in scored:
        tp, fp, fn = (int(v) for v in tally.fbeta.get(cls, np.zeros(3, int)))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        score = fbeta_score(precision, recall, options.fbeta_beta)
        present = tp + fn > 0
        weight = float(options.class_weights.get(cls, 1.0))
        radius = radius_vox.get(cls, float("nan"))
        per_class[cls] = {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall,
                          "fbeta": score, "present": present, "weight": weight,
                          "radius_vox": _json_float(radius),
                          "match_radius_vox": _json_float(radius * options.radius_multiplier)}
        if present:
            weighted += weight * score
            weight_sum += weight
    absent = [cls for cls in scored if not per_class[cls]["present"]]
    if absent:
        warnings.append(f"F-beta: {len(absent)} class(es) absent from the truth ({', '.join(absent)}) are left out "
                        f"of the mean, as CZII averages over the classes present")
    if weight_sum == 0:
        warnings.append("F-beta: no class present in the truth has a positive weight; the score is 0")
    return {"score": _ratio(weighted, weight_sum), "beta": options.fbeta_beta,
            "radius_multiplier": options.radius_multiplier, "per_class": per_class}


def _json_float(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


# --------------------------------------------------------------------------- presentation

FLAT_COLUMNS = ["RR", "TP", "FP", "FN", "MH", "RO", "AD", "precision", "recall", "miss_rate", "f1",
                "f1_small", "f1_medium", "f1_large", "fbeta"]


def as_report(report: dict | ScoreReport) -> ScoreReport:
    """A report dict (``tomobench score --out``, ``data/scores``, the leaderboard store) as the model."""
    return report if isinstance(report, ScoreReport) else ScoreReport.model_validate(report)


def flatten_report(report: dict | ScoreReport) -> dict:
    """One flat row of the headline figures (for tables such as ``data/results.parquet``)."""
    r = as_report(report)
    row = {k: getattr(r, k) for k in FLAT_COLUMNS[:11]}
    for group in SIZE_GROUPS:
        row[f"f1_{group}"] = r.size_groups.get(group, 0.0)
    row["fbeta"] = r.fbeta.score
    return row


def format_report(report: dict | ScoreReport, title: str = "") -> str:
    """The report as text tables in the layout of SHREC 2020 Tables 3, 4 and 6."""
    r = as_report(report)
    lines = [title] if title else []
    lines.append("Localization (SHREC 2020 Table 3)")
    head = ["RR", "TP", "FP", "FN", "MH", "RO", "AD", "Recall", "Precision", "Miss rate", "F1"]
    vals = [r.RR, r.TP, r.FP, r.FN, r.MH, r.RO, f"{r.AD:.3f}", f"{r.recall:.3f}", f"{r.precision:.3f}",
            f"{r.miss_rate:.3f}", f"{r.f1:.3f}"]
    lines += _table([head, [str(v) for v in vals]])
    lines.append("")
    lines.append("Classification F1 per class (SHREC 2020 Table 4)")
    lines += _table([["class", "TP", "FP", "FN", "precision", "recall", "F1"]] + [
        [c, str(s.tp), str(s.fp), str(s.fn), f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}"]
        for c, s in r.per_class.items()])
    lines.append("")
    lines.append("F1 per size group (SHREC 2020 Table 6)")
    lines += _table([["Small", "Medium", "Large"], [f"{r.size_groups.get(g, 0.0):.3f}" for g in SIZE_GROUPS]])
    fb = r.fbeta
    present = [c for c, s in fb.per_class.items() if s.present]
    lines.append("")
    lines.append(f"F-beta (beta={fb.beta:g}, match within {fb.radius_multiplier:g} x class radius, mean over the "
                 f"{len(present)} class(es) present): {fb.score:.3f}")
    for warning in r.warnings:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(cell.rjust(w) if k else cell.ljust(w) for k, (cell, w) in enumerate(zip(r, widths)))
           for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out
