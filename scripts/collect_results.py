"""The pipeline's `leaderboard` stage: score reports -> data/results.parquet, DVC metrics and plots.

    python scripts/collect_results.py [--params params.yaml] [--data data]
    python scripts/collect_results.py --leaderboard-status [--params params.yaml]

Reads data/scores/<method>.json and data/submissions/<method>.timing.json for the
methods of ``baselines.methods`` and writes:

* ``data/results.parquet``: one row per scored submission (contracts.md: method,
  is_baseline, dataset, phase, the flat report columns, report_json, timing_json),
* ``data/metrics.json``: {method: flat report} (``dvc metrics show``),
* ``data/plots/f1_per_class.csv`` and ``f1_size_group.csv`` (``dvc plots show``).

The stage then runs ``tomobench leaderboard import`` (dvc.yaml); ``--leaderboard-status``
prints which baselines the leaderboard's store holds for its dataset (exit 1 when none),
the last line of ``make run``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from scoring import flatten_report
from tomobench.errors import InputError
from tomobench.params import read_yaml


def collect(data: Path, methods: list[str], dataset: str) -> pd.DataFrame:
    rows, per_class, per_group, metrics = [], [], [], {}
    for method in methods:
        score_path = data / "scores" / f"{method}.json"
        if not score_path.is_file():
            raise InputError(f"no score report for {method}; run `dvc repro score@{method}`", score_path)
        report = json.loads(score_path.read_text(encoding="utf-8"))
        timing_path = data / "submissions" / f"{method}.timing.json"
        timing = json.loads(timing_path.read_text(encoding="utf-8")) if timing_path.is_file() else {}
        flat = flatten_report(report)
        metrics[method] = flat
        rows.append({"method": method, "is_baseline": True, "dataset": dataset, "phase": "final", **flat,
                     "report_json": json.dumps(report, sort_keys=True),
                     "timing_json": json.dumps(timing, sort_keys=True)})
        for cls, row in report.get("per_class", {}).items():
            per_class.append({"method_class": f"{method} {cls}", "method": method, "class": cls, "f1": row["f1"]})
        for group, f1 in report.get("size_groups", {}).items():
            per_group.append({"method_group": f"{method} {group}", "method": method, "group": group, "f1": f1})
    (data / "plots").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(per_class, columns=["method_class", "method", "class", "f1"]).to_csv(
        data / "plots" / "f1_per_class.csv", index=False, float_format="%.4f")
    pd.DataFrame(per_group, columns=["method_group", "method", "group", "f1"]).to_csv(
        data / "plots" / "f1_size_group.csv", index=False, float_format="%.4f")
    (data / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True), encoding="utf-8")
    table = pd.DataFrame(rows)
    table.to_parquet(data / "results.parquet", index=False)
    return table


def leaderboard_status(params_file: str | Path) -> str:
    """"N baseline(s) (a, b) on dataset 'D' in DIR" for the pipeline's rows in the leaderboard's store,
    or "" when it holds none."""
    from leaderboard.config import load_params
    from leaderboard.store import Store

    params = load_params(params_file)
    subs = Store(params.data_dir).submissions()
    if subs.empty:
        return ""
    subs = subs[(subs["source"] == "pipeline") & (subs["dataset"] == params.dataset)]
    if subs.empty:
        return ""
    return (f"{len(subs)} baseline(s) ({', '.join(sorted(subs['method']))}) on dataset '{params.dataset}' "
            f"in {params.data_dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data")
    parser.add_argument("--leaderboard-status", action="store_true",
                        help="print the baselines the leaderboard's store holds (exit 1 when none)")
    args = parser.parse_args(argv)
    if args.leaderboard_status:
        status = leaderboard_status(args.params)
        print(status)
        return 0 if status else 1
    try:
        doc = read_yaml(args.params)
        methods = list((doc.get("baselines") or {}).get("methods") or [])
        # the leaderboard's dataset name (its `leaderboard.dataset`), else the dataset's own name
        dataset = str((doc.get("leaderboard") or {}).get("dataset") or (doc.get("dataset") or {}).get("name"))
        table = collect(Path(args.data), methods, dataset)
    except InputError as exc:
        print(f"collect_results: error: {exc}", file=sys.stderr)
        return 2
    print(table[["method", "f1", "precision", "recall", "f1_small", "f1_medium", "f1_large"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
