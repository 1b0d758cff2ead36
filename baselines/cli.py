"""``tomobench baseline {dog,tm,unet,cnn} --data PUBLIC_DIR --out SUBMISSION``.

Each method is a module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
it reads only the public dataset folder (docs/conventions.md) and writes a submission.
"""

from __future__ import annotations

import argparse
import importlib

METHODS = {
    "dog": ("baselines.dog", "difference-of-Gaussians picker (class 'unknown' or a size guess)"),
    "tm": ("baselines.template_matching.cli", "template matching with local normalised cross-correlation"),
    "unet": ("baselines.unet.cli", "3D U-Net segmentation -> particles"),
    "cnn": ("baselines.classifier.cli", "DoG candidates classified by a 3D CNN"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``baseline METHOD`` subcommands, one per baseline, to ``subparsers``."""
    parser = subparsers.add_parser("baseline", help="run a baseline picker on a public dataset")
    methods = parser.add_subparsers(dest="method", metavar="METHOD", required=True)
    for name, (module_name, help_text) in METHODS.items():
        sub = methods.add_parser(name, help=help_text)
        sub.add_argument("--data", required=True, help="the public dataset folder (data/public)")
        sub.add_argument("--out", required=True, help="the submission file to write (.csv or .txt)")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            sub.set_defaults(func=_unavailable(name, exc))
            continue
        module.add_arguments(sub)
        sub.set_defaults(func=module.run)


def _unavailable(name: str, exc: Exception):
    def run(args) -> int:
        print(f"tomobench baseline {name}: unavailable ({exc})")
        return 1
    return run
