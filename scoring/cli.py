"""``tomobench score SUBMISSION --truth DIR [--out report.json] [--format F]``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tomobench.particles import FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score", help="score a particle list against ground truth (SHREC metrics)",
        description="Score a submission against one tomogram's ground-truth folder or a split folder. "
                    "Prints SHREC 2020 Tables 3, 4 and 6; writes the JSON report with --out.")
    parser.add_argument("submission", help="particle list: .txt (SHREC), .csv, .star or .json (copick)")
    parser.add_argument("--truth", required=True, help="ground-truth folder, or a split folder of them")
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--format", choices=FORMATS, help="force the submission format")
    parser.add_argument("--max-picks", type=int, default=None, help="refuse files with more picks (1,000,000)")
    parser.add_argument("--voxel-size", type=float, default=None,
                        help="Å per voxel, for copick picks (default: the truth's MRC header)")
    parser.add_argument("--beta", type=float, default=None, help="F-beta's beta (4)")
    parser.add_argument("--radius-multiplier", type=float, default=None,
                        help="F-beta match radius as a multiple of the class radius (0.5)")
    parser.add_argument("--no-dilate", action="store_true", help="do not dilate the occupancy mask (SHREC does)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from scoring.api import score_file
    from scoring.options import ScoringOptions
    from scoring.report import format_report
    from tomobench.params import validate

    overrides = {"dilate": not args.no_dilate}
    if args.beta is not None:
        overrides["fbeta_beta"] = args.beta
    if args.radius_multiplier is not None:
        overrides["radius_multiplier"] = args.radius_multiplier
    options = validate(ScoringOptions, overrides, source="command line")
    start = time.perf_counter()
    report = score_file(args.submission, args.truth, fmt=args.format, max_picks=args.max_picks,
                        voxel_size_a=args.voxel_size, options=options)
    report["elapsed_s"] = round(time.perf_counter() - start, 3)
    if not args.quiet:
        print(format_report(report, title=f"{args.submission} vs {args.truth}"))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0
