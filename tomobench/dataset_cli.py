"""``tomobench dataset``: package a dataset version, release it, apply presets.

    tomobench dataset package [--tomograms data/tomograms] [--structures data/structures]
                              [--public data/public] [--private data/private] [--params params.yaml]
    tomobench dataset release VERSION [--push] [--no-repro]
    tomobench dataset preset NAME [--set-params | --write FILE]
    tomobench dataset export-copick [--public data/public] [--out copick] [--split train|all]
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tomobench.dataset import DatasetParams, package
from tomobench.errors import InputError
from tomobench.presets import (DEFAULT, find_params_file, load_preset, preset_names,
                               set_params_args, set_scalar, validate_section)
from tomobench.params import read_yaml

GENERATOR_SECTIONS = ("dataset", "structures", "scene", "imaging")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("dataset", help="package, release and configure dataset versions")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("package", help="split simulated tomograms into data/public and data/private + dataset card")
    p.add_argument("--tomograms", default="data/tomograms")
    p.add_argument("--structures", default="data/structures")
    p.add_argument("--public", default="data/public")
    p.add_argument("--private", default="data/private")
    p.add_argument("--params", default=None, help="parameter file (default ./params.yaml)")
    p.add_argument("--preset", default=DEFAULT)
    p.set_defaults(func=run_package)

    r = sub.add_parser("release", help="set dataset.version, reproduce, commit and tag a dataset version")
    r.add_argument("version", help="the version and git tag, e.g. v1.0")
    r.add_argument("--params", default="params.yaml")
    r.add_argument("--no-repro", action="store_true", help="do not run `dvc repro` (the pipeline is up to date)")
    r.add_argument("--push", action="store_true", help="also `dvc push` the data to its remotes")
    r.set_defaults(func=run_release)

    s = sub.add_parser("preset", help="show, or apply, a parameter preset")
    s.add_argument("name", nargs="?", default=None, help="preset name (none: list the presets)")
    s.add_argument("--params", default=None)
    how = s.add_mutually_exclusive_group()
    how.add_argument("--set-params", action="store_true",
                     help='print `-S key=value` arguments: eval "dvc exp run $(tomobench dataset preset NAME --set-params)"')
    how.add_argument("--write", default=None, metavar="FILE", help="write the merged parameters to FILE")
    s.set_defaults(func=run_preset)

    c = sub.add_parser("export-copick", help="write a copick project (config, runs, tomograms, picks) of a dataset")
    c.add_argument("--public", default="data/public", help="the public dataset folder (default data/public)")
    c.add_argument("--out", default="copick", help="the project folder to write (default ./copick)")
    c.add_argument("--split", default="train", choices=("train", "all"),
                   help="train: training tomograms with their picks; all: also the test tomograms (no picks)")
    c.add_argument("--name", default=None, help="project name (default: the dataset folder's name)")
    c.set_defaults(func=run_export_copick)


def run_package(args: argparse.Namespace) -> int:
    doc, sources = load_preset(args.preset, args.params)
    params = validate_section(DatasetParams, doc, "dataset", sources)
    sections = {name: doc.get(name) or {} for name in GENERATOR_SECTIONS}
    sections["dataset"] = {k: v for k, v in sections["dataset"].items() if k not in ("workers", "scheduler")}
    summary = package(args.tomograms, args.structures, args.public, args.private, params, parameters=sections)
    print(f"packaged {params.name} {params.version}: train {len(summary.train)}, test {len(summary.test)} "
          f"tomogram(s), {int(summary.counts['train'].sum())} train particles; public -> {args.public}, "
          f"private -> {args.private}", file=sys.stderr)
    return 0


def _git(*argv: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["git", *argv], capture_output=True, text=True)
    except FileNotFoundError:
        raise InputError("git is not installed") from None
    if check and done.returncode != 0:
        raise InputError(f"`git {' '.join(argv)}` failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _dvc(*argv: str) -> None:
    print(f"+ dvc {' '.join(argv)}", file=sys.stderr)
    if subprocess.run([sys.executable, "-m", "dvc", *argv]).returncode != 0:
        raise InputError(f"`dvc {' '.join(argv)}` failed (see its message above)")


def run_release(args: argparse.Namespace) -> int:
    version = args.version
    params_file = Path(args.params)
    if not Path("dvc.yaml").is_file() or not Path(".dvc").is_dir():
        raise InputError("run `tomobench dataset release` at the root of the DVC repository (dvc.yaml, .dvc/)")
    doc = read_yaml(params_file)  # the version's spelling (and the rest of the section), before any work
    validate_section(DatasetParams, {"dataset": {**(doc.get("dataset") or {}), "version": version}},
                     "dataset", [params_file])
    _git("rev-parse", "--git-dir")
    if _git("tag", "--list", version).strip():
        raise InputError(f"git tag {version!r} exists already; pick a new version")
    dirty = [ln for ln in _git("status", "--porcelain", "--untracked-files=no").splitlines()
             if not (ln[3:].strip() in (str(params_file), "dvc.lock") or ln.endswith(".gitignore"))]
    if dirty:
        raise InputError("commit or stash these changes first: " + "; ".join(ln[3:] for ln in dirty))
    set_scalar(params_file, "dataset.version", version)
    if not args.no_repro:
        _dvc("repro")
    # DVC keeps the outputs out of git with .gitignore files next to them: they belong to the release too
    ignores = [ln[3:].strip() for ln in _git("status", "--porcelain").splitlines() if ln.endswith(".gitignore")]
    _git("add", str(params_file), "dvc.lock", *ignores)
    if _git("diff", "--cached", "--name-only").strip():
        _git("commit", "-q", "-m", f"Dataset release {version}")
    _git("tag", "-a", version, "-m", f"tomobench dataset {version}")
    if args.push:
        _dvc("push")
    print(f"released {version}: commit {_git('rev-parse', '--short', 'HEAD').strip()}, tag {version}\n"
          f"publish it:  {'' if args.push else 'dvc push && '}git push origin HEAD {version}\n"
          f"participants: dvc get <repo url> data/public --rev {version}", file=sys.stderr)
    return 0


def run_preset(args: argparse.Namespace) -> int:
    base = find_params_file(args.params)
    if args.name is None:
        print("\n".join(preset_names(base)))
        return 0
    if args.set_params:
        # shell-quoted: eval "dvc exp run $(tomobench dataset preset NAME --set-params)"
        print(" ".join(shlex.quote(a) for a in set_params_args(args.name, base)))
        return 0
    doc, _ = load_preset(args.name, base)
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)
    if args.write:
        Path(args.write).write_text(f"# preset {args.name}: {base.name} merged with params/{args.name}.yaml\n"
                                    + text, encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0



def run_export_copick(args: argparse.Namespace) -> int:
    from tomobench.copick_project import export_copick

    config = export_copick(args.public, args.out, split=args.split, name=args.name)
    print(f"wrote the copick project {config} (open it with copick.from_file({str(config)!r}))", file=sys.stderr)
    return 0
