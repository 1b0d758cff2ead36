"""``tomobench score SUBMISSION --truth DIR [--out report.json] [--format F] [--params params.yaml]``.

The options come from :func:`scoring.options.load_options`: the ``scoring`` section of
``--params`` (default: ``./params.yaml`` when present), then the flags given here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tomobench.particles import FORMATS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` subcommand to the ``tomobench`` command line."""
    parser = subparsers.add_parser(
        "score", help="score a particle list against ground truth (SHREC metrics)",
        description="Score a submission against one tomogram's ground-truth folder or a split folder. "
                    "Prints SHREC 2020 Tables 3, 4 and 6; writes the JSON report with --out.")
    parser.add_argument("submission", nargs="?", help="particle list: .txt (SHREC), .csv, .star or .json (copick)")
    parser.add_argument("--truth", help="ground-truth folder, or a split folder of them")
    parser.add_argument("--params", help="parameter file whose 'scoring' section sets the options "
                                         "(default: ./params.yaml when present); the flags below override it")
    parser.add_argument("--out", help="write the JSON report here")
    parser.add_argument("--format", choices=FORMATS, help="force the submission format")
    parser.add_argument("--max-picks", type=int, default=None, help="refuse files with more picks (scoring.max_picks)")
    parser.add_argument("--voxel-size", type=float, default=None,
                        help="Å per voxel, for copick picks (default: the truth's MRC header)")
    parser.add_argument("--beta", type=float, default=None, help="F-beta's beta (scoring.fbeta_beta)")
    parser.add_argument("--radius-multiplier", type=float, default=None,
                        help="F-beta match radius as a multiple of the class radius (scoring.radius_multiplier)")
    parser.add_argument("--dilate", action=argparse.BooleanOptionalAction, default=None,
                        help="dilate the occupancy mask once before matching, as SHREC does (scoring.dilate)")
    parser.add_argument("--schema", action="store_true", help="print the JSON schema of the report and exit")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.set_defaults(func=run)


def options_from_args(args: argparse.Namespace):
    """The scoring options: ``--params`` (or ./params.yaml), then the flags that were given."""
    from scoring.options import load_options

    params_file = args.params or ("params.yaml" if Path("params.yaml").is_file() else None)
    flags = {"dilate": args.dilate, "fbeta_beta": args.beta, "radius_multiplier": args.radius_multiplier,
             "max_picks": args.max_picks}
    return load_options(params_file, {k: v for k, v in flags.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    """Score the submission named in ``args`` (or print the report schema); the exit status, 0 on success."""
    from scoring.api import score_file
    from scoring.report import format_report
    from scoring.report_model import ScoreReport, report_schema_json
    from tomobench.errors import InputError

    if args.schema:
        print(report_schema_json(), end="")
        return 0
    if not args.submission or not args.truth:
        raise InputError("give a submission file and --truth DIR (or --schema)")
    options = options_from_args(args)
    start = time.perf_counter()
    report = score_file(args.submission, args.truth, fmt=args.format, voxel_size_a=args.voxel_size, options=options)
    report["elapsed_s"] = round(time.perf_counter() - start, 3)
    ScoreReport.model_validate(report)          # what is written always follows the documented schema
    if not args.quiet:
        print(format_report(report, title=f"{args.submission} vs {args.truth}"))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0
