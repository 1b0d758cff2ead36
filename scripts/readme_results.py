"""Regenerate the README's `make run` results tables from the pipeline's own files.

    python scripts/readme_results.py [--params params.yaml] [--data data] [--readme README.md]
        [--extra 'LABEL=REPORT.json[:TIMING.json]' ...] [--spread 'METHOD=a.json,b.json,c.json' ...] [--check]

Reads ``data/scores/<method>.json`` (the score stage's reports) and
``data/submissions/<method>.timing.json`` for the methods of ``baselines.methods`` and
rewrites what lies between the marker comments

    <!-- results-table:begin --> ... <!-- results-table:end -->          (SHREC Tables 3, 6 and F-beta)
    <!-- results-per-class:begin --> ... <!-- results-per-class:end -->  (SHREC Table 4, optional)

``--extra`` adds rows scored outside the pipeline (e.g. TM-T); ``--spread`` adds the F1 range of a
learned baseline over several seeds' reports. ``--check`` changes nothing and exits 1 when the
README is not what the files give. Never edit the tables by hand: run this after ``make run``.

The seed spread of a learned baseline (the rows of a single seed are one draw), e.g. the U-Net
over three more seeds (each trains from scratch: minutes on 2 cores; the same for ``cnn``):

    for s in 1 2 3; do
      tomobench baseline unet --data data/public --out /tmp/unet_s$s.csv --params params.yaml \
        --seed $s --checkpoint-dir /tmp/unet_ck_s$s --quiet
      tomobench score /tmp/unet_s$s.csv --truth data/private/test --out /tmp/unet_s$s.json --quiet
    done
    runs=data/scores/unet.json,/tmp/unet_s1.json,/tmp/unet_s2.json,/tmp/unet_s3.json
    python scripts/readme_results.py --spread unet=$runs
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scoring import as_report
from scoring.report_model import ScoreReport
from tomobench.errors import InputError
from tomobench.params import read_yaml

TABLE = "results-table"
PER_CLASS = "results-per-class"
HEADER = ["baseline", "RR", "TP", "FP", "FN", "MH", "AD", "recall", "precision", "F1", "small", "medium",
          "large", "F-beta", "train / infer (s)"]
NOTE = ("Reproducibility: the data are bit-for-bit reproducible (same parameters and seed give the same "
        "bytes; `tests/dvc` checks it), and so are the classical baselines (DoG: no random state; "
        "template matching: its only random state, the noise that replaces gold beads, is seeded). "
        "The learned baselines (U-Net, DoG+CNN) are not: the same seed gives other "
        "figures on another machine (CPU kernels, thread counts and summation order differ), so treat "
        "their rows as one draw{spread}.")


@dataclass
class Row:
    """One baseline's line: its label, report and timing."""

    method: str
    label: str
    report: ScoreReport
    timing: dict = field(default_factory=dict)


def label_of(method: str, params: dict) -> str:
    """The README's name of a baseline, with the parameters that matter for its figures."""
    p = (params.get("baselines") or {}).get(method) or {}
    if method == "dog":
        return "DoG (classes by size)" if p.get("classify_by_size") else "DoG (class `unknown`)"
    if method == "tm":
        scan = f"{p.get('angular_step_deg', 0):g}°, bin {p.get('bin', 1)}"
        if p.get("refine"):
            scan += f", refined at {p.get('fine_step_deg', 0):g}°"
        return f"TM-{p.get('rule', 'F')} ({scan})"
    if method == "unet":
        fit = p.get("final_fit_steps")
        return f"3D U-Net ({p.get('steps')}{f' + {fit}' if fit else ''} steps)"
    if method == "cnn":
        return f"DoG + CNN ({p.get('epochs')} epochs)"
    return method


def _num(value: float, digits: int = 3) -> str:
    return "0" if value == 0 else f"{value:.{digits}f}"


def _timing(method: str, timing: dict, params: dict) -> str:
    train, infer = timing.get("train_s"), timing.get("infer_s")
    grid = method == "dog" and ((params.get("baselines") or {}).get("dog") or {}).get("grid_search")
    train_text = "–" if not train else f"{train:.1f}" + (" (grid search)" if grid else "")
    return f"{train_text} / {infer:.1f}" if infer is not None else "–"


def table_lines(rows: list[Row], params: dict) -> list[str]:
    """SHREC Table 3 columns, Table 6 size groups, F-beta and the timing, one line per baseline."""
    out = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        r = row.report
        cells = [row.label, str(r.RR), str(r.TP), str(r.FP), str(r.FN), str(r.MH), f"{r.AD:.2f}",
                 _num(r.recall), _num(r.precision), _num(r.f1),
                 *(_num(r.size_groups.get(g, 0.0)) for g in ("small", "medium", "large")), _num(r.fbeta.score),
                 _timing(row.method, row.timing, params) if row.timing else "–"]
        out.append("| " + " | ".join(cells) + " |")
    return out


def per_class_lines(rows: list[Row], masses: dict[str, float]) -> list[str]:
    """SHREC Table 4: per-class F1 of the baselines that classify (classes by increasing mass); the
    classes at 0 for every baseline share one line."""
    rows = [r for r in rows if any(s.f1 > 0 for s in r.report.per_class.values())]
    if not rows:
        return ["No baseline classified any particle correctly."]
    classes = sorted(rows[0].report.per_class, key=lambda c: (masses.get(c, np.inf), c))
    out = ["| class | " + " | ".join(r.label for r in rows) + " |", "|---|" + "---|" * len(rows)]
    zero = [c for c in classes if all(r.report.per_class[c].f1 == 0 for r in rows if c in r.report.per_class)]
    if len(zero) < 2:
        zero = []
    if zero:
        kda = [masses[c] for c in zero if c in masses]
        span = f" of {min(kda):g}–{max(kda):g} kDa" if kda else ""
        out.append(f"| the {len(zero)} classes{span} at 0 for every baseline | " + " | ".join("0" for _ in rows) + " |")
    for cls in classes:
        if cls not in zero:
            cells = [_num(r.report.per_class[cls].f1) if cls in r.report.per_class else "–" for r in rows]
            out.append(f"| {cls} | " + " | ".join(cells) + " |")
    return out


def spread_text(spreads: dict[str, list[ScoreReport]]) -> str:
    parts = []
    for method, reports in spreads.items():
        f1 = [r.f1 for r in reports]
        parts.append(f"{method} localization F1 {min(f1):.3f}–{max(f1):.3f} over {len(f1)} seeds")
    return f" (measured spread on this machine: {'; '.join(parts)})" if parts else ""


def replace_block(text: str, marker: str, lines: list[str], path: Path) -> str:
    """``text`` with the lines between ``<!-- marker:begin -->`` and ``<!-- marker:end -->`` replaced."""
    pattern = re.compile(rf"(<!-- {marker}:begin -->\n)(.*?)(<!-- {marker}:end -->)", re.S)
    if not pattern.search(text):
        raise InputError(f"no '<!-- {marker}:begin -->' ... '<!-- {marker}:end -->' markers", path)
    body = "\n".join(lines) + "\n"
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), text, count=1)


def _load_report(path: Path) -> ScoreReport:
    if not path.is_file():
        raise InputError("score report not found; run the pipeline first (make run)", path)
    return as_report(json.loads(path.read_text(encoding="utf-8")))


def _load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def collect_rows(data: Path, params: dict, extras: list[str]) -> list[Row]:
    methods = list((params.get("baselines") or {}).get("methods") or [])
    rows = [Row(m, label_of(m, params), _load_report(data / "scores" / f"{m}.json"),
                _load_json(data / "submissions" / f"{m}.timing.json")) for m in methods]
    for extra in extras:
        label, _, files = extra.partition("=")
        report, _, timing = files.partition(":")
        if not label or not report:
            raise InputError(f"--extra wants LABEL=REPORT.json[:TIMING.json], got {extra!r}", "command line")
        rows.append(Row(label, label, _load_report(Path(report)), _load_json(Path(timing)) if timing else {}))
    return rows


def render(readme_text: str, readme: Path, rows: list[Row], params: dict, masses: dict[str, float],
           spreads: dict[str, list[ScoreReport]]) -> str:
    stamp = ("<!-- generated by scripts/readme_results.py from data/scores and data/submissions/*.timing.json; "
             "do not edit by hand -->")
    text = replace_block(readme_text, TABLE, [stamp, *table_lines(rows, params), "",
                                              NOTE.format(spread=spread_text(spreads))], readme)
    if f"<!-- {PER_CLASS}:begin -->" in text:
        text = replace_block(text, PER_CLASS, [stamp, *per_class_lines(rows, masses)], readme)
    return text


def _masses(rows: list[Row]) -> dict[str, float]:
    """Class masses (kDa) as the reports carry them (their cumulative-F1 entries)."""
    return {e.class_: e.mass_kda for row in rows for e in row.report.cumulative_f1 if e.mass_kda is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data")
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--extra", action="append", default=[], help="LABEL=REPORT.json[:TIMING.json]")
    parser.add_argument("--spread", action="append", default=[], help="METHOD=a.json,b.json,c.json (seeds)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README differs; write nothing")
    args = parser.parse_args(argv)
    readme, data = Path(args.readme), Path(args.data)
    try:
        params = read_yaml(args.params)
        rows = collect_rows(data, params, args.extra)
        spreads = {}
        for item in args.spread:
            method, _, files = item.partition("=")
            spreads[method] = [_load_report(Path(f)) for f in files.split(",") if f]
        text = readme.read_text(encoding="utf-8")
        new = render(text, readme, rows, params, _masses(rows), spreads)
    except InputError as exc:
        print(f"readme_results: error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{readme} is not what the results give; run: python scripts/readme_results.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    print(f"{readme}: {len(rows)} row(s) written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
