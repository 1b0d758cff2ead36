"""``tomobench dataset``: package a dataset version, release it, apply presets.

    tomobench dataset package [--tomograms data/tomograms] [--structures data/structures]
                              [--public data/public] [--private data/private] [--params params.yaml]
                              [--preset NAME]
    tomobench dataset release VERSION [--push] [--no-repro]

A release records where its data live: DVC resolves a relative remote url of
``.dvc/config`` against each copy of the repository (a clone, the temporary
clone of ``dvc get`` / ``dvc import``), so ``release`` writes such urls as
absolute paths into the release commit.
    tomobench dataset preset NAME [--set-params | --write FILE]
    tomobench dataset export-copick [--public data/public] [--out copick] [--split train|all]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tomobench.dataset import TOMO_RE, DatasetParams, package
from tomobench.errors import InputError
from tomobench.params import read_yaml
from tomobench.presets import (
    DEFAULT,
    find_params_file,
    load_preset,
    preset_names,
    set_params_args,
    set_scalar,
    validate_section,
)

GENERATOR_SECTIONS = ("dataset", "structures", "scene", "imaging")
METRICS, PLOTS = "data/metrics.json", "data/plots/"   # the leaderboard stage's cache: false outputs (dvc.yaml)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dataset`` subcommand (package, release, preset, export-copick) to ``tomobench``."""
    parser = subparsers.add_parser("dataset", help="package, release and configure dataset versions")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("package", help="split simulated tomograms into data/public and data/private + dataset card")
    p.add_argument("--tomograms", default="data/tomograms")
    p.add_argument("--structures", default="data/structures")
    p.add_argument("--public", default="data/public")
    p.add_argument("--private", default="data/private")
    p.add_argument("--params", default=None, help="parameter file (default ./params.yaml)")
    p.add_argument("--preset", default=DEFAULT,
                   help="the preset the tomograms were simulated with (`tomobench simulate --preset NAME`); "
                        "default: params.yaml as it is")
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
                     help='print `-S key=value` arguments: '
                          'eval "dvc exp run $(tomobench dataset preset NAME --set-params)"')
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
    """``tomobench dataset package``: split the tomograms into public and private folders and write the card."""
    doc, sources = load_preset(args.preset, args.params)
    params = validate_section(DatasetParams, doc, "dataset", sources)
    extra = extra_tomograms(Path(args.tomograms), params)
    if extra:
        raise InputError(f"{args.tomograms} holds {', '.join(extra)} beyond dataset.n_tomos = {params.n_tomos} of "
                         f"preset {args.preset!r}; give the preset (or --params FILE) the tomograms were simulated "
                         f"with: tomobench dataset package --preset NAME --tomograms {args.tomograms}")
    sections = {name: doc.get(name) or {} for name in GENERATOR_SECTIONS}
    # where the tomograms were computed is not part of the dataset: the card stays the same bytes
    sections["dataset"] = {k: v for k, v in sections["dataset"].items() if k not in ("workers", "scheduler", "slurm")}
    summary = package(args.tomograms, args.structures, args.public, args.private, params, parameters=sections)
    print(f"packaged {params.name} {params.version}: train {len(summary.train)}, test {len(summary.test)} "
          f"tomogram(s), {int(summary.counts['train'].sum())} train particles; public -> {args.public}, "
          f"private -> {args.private}", file=sys.stderr)
    return 0


def extra_tomograms(folder: Path, params: DatasetParams) -> list[str]:
    """Tomogram folders in ``folder`` that ``params`` does not know (simulated with another preset)."""
    if not folder.is_dir():
        return []
    known = set(params.names())
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and TOMO_RE.match(p.name) and p.name not in known)


def absolute_remote_url(url: str, config_dir: Path) -> str | None:
    """The absolute path of a relative local remote ``url`` of the config in ``config_dir``; None otherwise.

    DVC resolves a relative url against the folder of the config file that holds
    it, so the same ``../.dvc-remotes/public`` means another folder in each clone.
    Urls with a scheme (``s3://``, ``ssh://``, ``https://``, ``file://``) and
    absolute paths are left as they are.
    """
    if "://" in url or os.path.isabs(url) or not url:
        return None
    return os.path.normpath(os.path.join(os.path.abspath(config_dir), url))


def config_remotes(path: Path) -> dict[str, str]:
    """Remote name -> url as written in the DVC config file ``path`` (unresolved); {} without the file."""
    from configobj import ConfigObj  # DVC's own config parser

    if not path.is_file():
        return {}
    remotes = {}
    for section, values in ConfigObj(str(path)).items():
        head, _, name = section.strip().partition(" ")
        if head == "remote" and isinstance(values, dict) and "url" in values:
            remotes[name.strip('"')] = str(values["url"])
    return remotes


def _public_remote_defined(dvc_dir: Path) -> dict[str, str]:
    """The remotes of ``.dvc/config``; an error when `public` (where dvc.yaml sends data/public) is not one."""
    remotes = config_remotes(dvc_dir / "config")
    if "public" not in remotes:
        raise InputError("no remote `public` in .dvc/config (dvc.yaml sends data/public there); add it with "
                         "`dvc remote add public URL`", dvc_dir / "config")
    return remotes


def _pin_remote_urls(dvc_dir: Path) -> None:
    """Write relative remote urls of ``.dvc/config`` as absolute ones: a release must name where its data are."""
    remotes = _public_remote_defined(dvc_dir)
    for name, url in remotes.items():
        absolute = absolute_remote_url(url, dvc_dir)
        if absolute is not None:
            _dvc("remote", "modify", "--project", name, "url", absolute)
            remotes[name] = absolute
            print(f"remote {name}: {url} -> {absolute} (a copy of the repository would resolve the relative "
                  f"url against its own folder)", file=sys.stderr)
    pushed = config_remotes(dvc_dir / "config.local").get("public")
    if pushed and pushed != remotes["public"]:
        print(f"note: you push data/public to {pushed} (.dvc/config.local); participants read it from "
              f"{remotes['public']} (.dvc/config)", file=sys.stderr)


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


def _released_output(path: str) -> bool:
    """Git-tracked files that DVC writes: .gitignore files, metrics and plots."""
    return path.endswith(".gitignore") or path == METRICS or path.startswith(PLOTS)


def run_release(args: argparse.Namespace) -> int:
    """``tomobench dataset release VERSION``: set the version, reproduce, commit and tag it."""
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
    _public_remote_defined(Path(".dvc"))
    released = (str(params_file), "dvc.lock", ".dvc/config")   # files the release commits with its tag
    dirty = [ln for ln in _git("status", "--porcelain", "--untracked-files=no").splitlines()
             if not (ln[3:].strip() in released or _released_output(ln[3:].strip()))]
    if dirty:
        raise InputError("commit or stash these changes first: " + "; ".join(ln[3:] for ln in dirty))
    set_scalar(params_file, "dataset.version", version)
    if not args.no_repro:
        _dvc("repro")
    _pin_remote_urls(Path(".dvc"))
    # DVC keeps the outputs out of git with .gitignore files next to them, and the metrics and plots
    # (cache: false) are small git-tracked files: they belong to the release too
    outputs = [ln[3:].strip() for ln in _git("status", "--porcelain", "--untracked-files=all").splitlines()
               if _released_output(ln[3:].strip())]
    _git("add", *released, *outputs)
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
    """``tomobench dataset preset [NAME]``: list the presets, or print or write one's parameters."""
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
    """``tomobench dataset export-copick``: write a copick project over the public folder."""
    from tomobench.copick_project import export_copick

    config = export_copick(args.public, args.out, split=args.split, name=args.name)
    print(f"wrote the copick project {config} (open it with copick.from_file({str(config)!r}))", file=sys.stderr)
    return 0
