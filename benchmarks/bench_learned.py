"""Benchmark of the learned baselines: training time to the reported quality, inference time, quality.

    PYTHONPATH=$PWD python benchmarks/bench_learned.py                 # synthetic stand-in dataset
    PYTHONPATH=$PWD python benchmarks/bench_learned.py --data data/public --truth data/private/test \
        --skip-task --cnn-seeds 0,1,2

Runs ``tomobench baseline unet`` and ``tomobench baseline cnn`` (DoG+CNN) on the
public folder, scores both submissions with the SHREC scorer (Tables 3, 4, 6)
when a truth folder is given, prints the timing files (SHREC Table 7), the
held-out convergence curve (validation score against steps / epochs), the
DoG+CNN's spread of localization F1 over ``--cnn-seeds`` and then the
subtomogram classification task (Xu et al. Table 2 layout) on
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


def _score(sub: Path, truth: Path | None) -> dict | None:
    if truth is None:
        return None
    try:
        from scoring import format_report, score_file
    except ImportError as exc:  # the scorer is another part; print what we can without it
        print(f"(scorer unavailable: {exc})")
        return None
    report = score_file(sub, truth)
    print(format_report(report))
    return report


def _curve(timing: dict) -> None:
    curve = timing.get("val_curve") or []
    if curve:
        print("held-out validation score against steps/epochs: "
              + ", ".join(f"{int(s)}: {v:.3f}" for s, v in curve))


def _run(method: str, out: Path, common: list[str], truth: Path | None, extra: list[str], tag: str = "") -> dict | None:
    sub = out / "submissions" / f"{method}{tag}.csv"
    t0 = time.perf_counter()
    rc = tomobench(["baseline", method, "--out", str(sub), "--checkpoint-dir", str(out / "ckpt" / f"{method}{tag}"),
                    *common, *extra])
    print(f"\n=== {method}{tag}: exit {rc}, {time.perf_counter() - t0:.1f} s wall")
    if rc != 0:
        return None
    timing = json.loads(sub.with_name(f"{method}{tag}.timing.json").read_text())
    print(json.dumps({k: v for k, v in timing.items() if k != "val_curve"}, indent=1))
    _curve(timing)
    return _score(sub, truth)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="public dataset folder (default: a synthetic stand-in is written)")
    ap.add_argument("--truth", help="private test truth folder (for scoring)")
    ap.add_argument("--params", help="params.yaml with baselines.unet / cnn / cnn_subtomo")
    ap.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--skip-task", action="store_true", help="skip the subtomogram classification task")
    ap.add_argument("--task-args", default="", help="extra args for the task run, e.g. '--epochs 10'")
    ap.add_argument("--unet-args", default="", help="extra args for the U-Net, e.g. '--steps 400'")
    ap.add_argument("--cnn-args", default="", help="extra args for the DoG+CNN, e.g. '--epochs 4'")
    ap.add_argument("--cnn-seeds", default="0", help="comma-separated seeds of the DoG+CNN (spread of F1)")
    ap.add_argument("--skip-unet", action="store_true")
    ap.add_argument("--skip-cnn", action="store_true")
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
    if not args.skip_unet:
        _run("unet", out, common, truth, args.unet_args.split())
    if not args.skip_cnn:
        f1s = []
        for seed in [int(v) for v in args.cnn_seeds.split(",") if v]:
            report = _run("cnn", out, common, truth, [*args.cnn_args.split(), "--seed", str(seed)], tag=f"_seed{seed}")
            if report is not None:
                f1s.append(report["f1"])
        if len(f1s) > 1:
            print(f"\nDoG+CNN localization F1 over seeds {args.cnn_seeds}: {', '.join(f'{v:.3f}' for v in f1s)}; "
                  f"spread (max - min) {max(f1s) - min(f1s):.3f}")
    if not args.skip_task:
        print("\n=== subtomogram classification task")
        t0 = time.perf_counter()
        tomobench(["baseline", "cnn", "--task", "subtomo", "--out", str(out / "subtomo_task.json"), *common,
                   *args.task_args.split()])
        print(f"({time.perf_counter() - t0:.1f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
