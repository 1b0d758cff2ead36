"""The ``tomobench`` command.

Subcommands are plugins registered under the entry-point group
``tomobench.commands`` (see ``pyproject.toml``): each is a function
``register(subparsers)`` that adds its parser and sets ``func``. The core thus
never imports the generator, baselines, scorer or leaderboard.

Exit codes: 0 success, 2 bad input (an :class:`~tomobench.errors.InputError`,
printed as one line), 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from tomobench import __version__
from tomobench.errors import InputError

GROUP = "tomobench.commands"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``tomobench`` parser with every plugged-in subcommand (only ``only``'s module is imported)."""
    parser = argparse.ArgumentParser(prog="tomobench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tomobench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if only is not None and ep.name != only:
            sub.add_parser(ep.name, help=f"(run 'tomobench {ep.name} -h')")
            continue
        try:
            register = ep.load()
        except ImportError as exc:
            sub.add_parser(ep.name, help=f"unavailable: {exc}")
            continue
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``tomobench`` with ``argv`` (default: ``sys.argv[1:]``); the exit status, 2 on bad input."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # Only the chosen subcommand's module is imported: `tomobench score` never loads torch.
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if command is None else 2
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"tomobench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
