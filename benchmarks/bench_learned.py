"""Benchmark of the learned baselines: training time to the reported quality, inference time, quality.

    PYTHONPATH=$PWD python benchmarks/bench_learned.py                 # synthetic stand-in dataset
    PYTHONPATH=$PWD python benchmarks/bench_learned.py --data data/public --truth data/private/test

Runs ``tomobench baseline unet`` and ``tomobench baseline cnn`` (DoG+CNN) on the
public folder, scores both submissions with the SHREC scorer (Tables 3, 4, 6)
when a truth folder is given, prints the timing files (SHREC Table 7) and then
the subtomogram classification task (Xu et al. Table 2 layout) on
``PUBLIC/structures``. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from baselines.synthetic import write_fake_public
from tomobench.cli import main as tomobench


def _score(sub: Path, truth: Path | None) -> None:
    if truth is None:
        return
    try:
        from scoring import format_report, score_file
    except ImportError as exc:  # the scorer is another part; print what we can without it
        print(f"(scorer unavailable: {exc})")
        return
    print(format_report(score_file(sub, truth)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="public dataset folder (default: a synthetic stand-in is written)")
    ap.add_argument("--truth", help="private test truth folder (for scoring)")
    ap.add_argument("--params", help="params.yaml with baselines.unet / cnn / cnn_subtomo")
    ap.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--skip-task", action="store_true", help="skip the subtomogram classification task")
    ap.add_argument("--task-args", default="", help="extra args for the task run, e.g. '--epochs 10'")
    args = ap.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_learned_"))
    if args.data:
        data, truth = Path(args.data), Path(args.truth) if args.truth else None
    else:
        t0 = time.perf_counter()
        data = write_fake_public(out / "public", np.random.default_rng(0), n_train=3, n_test=1,
                                 shape_zyx=(48, 96, 96), n_per_class=25, noise_sigma=0.7, box=16)
        truth = out / "private" / "test"
        print(f"synthetic dataset (3 train + 1 test, 48x96x96, 2 shapes + membrane) in "
              f"{time.perf_counter() - t0:.1f} s -> {data}")
    common = ["--data", str(data), "--quiet"] + (["--params", args.params] if args.params else [])
    for method in ("unet", "cnn"):
        sub = out / "submissions" / f"{method}.csv"
        t0 = time.perf_counter()
        rc = tomobench(["baseline", method, "--out", str(sub), "--checkpoint-dir", str(out / "ckpt" / method),
                        *common])
        print(f"\n=== {method}: exit {rc}, {time.perf_counter() - t0:.1f} s wall")
        if rc == 0:
            print(json.dumps(json.loads(sub.with_name(f"{method}.timing.json").read_text()), indent=1))
            _score(sub, truth)
    if not args.skip_task:
        print("\n=== subtomogram classification task")
        t0 = time.perf_counter()
        tomobench(["baseline", "cnn", "--task", "subtomo", "--out", str(out / "subtomo_task.json"), *common,
                   *args.task_args.split()])
        print(f"({time.perf_counter() - t0:.1f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
