"""``tomobench simulate``: a dataset of simulated tomograms from a preset.

    tomobench simulate --preset NAME --out DIR [--n-tomos N] [--seed S] [--structures SOURCE]
                       [--workers N | --scheduler ADDRESS | --slurm] [--slurm-script]
                       [--params FILE] [--library DIR] [--only TOMO ...]

Writes ``DIR/classes.csv`` and ``DIR/tomo_000``, ``DIR/tomo_001``, ... Every
parameter is validated before any work starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tomobench.dataset import SlurmParams, tomo_index, tomo_name
from tomobench.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command and its options to the ``tomobench`` command line."""
    parser = subparsers.add_parser(
        "simulate", help="simulate a dataset of tomograms (structures -> scene -> microscope -> reconstruction)",
        description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="default",
                        help="parameter preset: 'default' (= params.yaml) or NAME of params/NAME.yaml")
    parser.add_argument("--out", required=True, help="output folder (DIR/tomo_000, ...)")
    parser.add_argument("--params", default=None,
                        help="base parameter file (default: ./params.yaml, else the one of the source tree)")
    parser.add_argument("--n-tomos", type=int, default=None, help="number of tomograms (overrides dataset.n_tomos)")
    parser.add_argument("--seed", type=int, default=None, help="dataset seed (overrides dataset.seed)")
    parser.add_argument("--structures", default=None,
                        help="structure source: builtin, a folder of PDB/mmCIF/MRC, or comma-separated PDB ids")
    parser.add_argument("--library", default=None,
                        help="use the structure library already written in this folder (tomobench structures --out)")
    parser.add_argument("--only", nargs="+", default=None, metavar="TOMO",
                        help="simulate only these tomograms (tomo_003 ...); DIR/classes.csv is not written")
    parser.add_argument("--workers", type=int, default=None,
                        help="run on a local Dask cluster of N worker processes (default: dataset.workers; 0 = serial)")
    parser.add_argument("--scheduler", default=None,
                        help="run on the existing Dask cluster at this address (tcp://host:8786)")
    parser.add_argument("--slurm", action="store_true",
                        help="run on SLURM jobs as dataset.slurm describes them (pip install \"tomobench[slurm]\")")
    parser.add_argument("--slurm-script", action="store_true",
                        help="print the SLURM job script of dataset.slurm and stop (nothing is submitted)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tomobench simulate`` with the parsed ``args``; returns the exit status (0)."""
    from generator.simulate import connect, load_config, simulate_many, write_dataset_classes

    if args.workers is not None and args.workers < 0:
        raise InputError(f"--workers must be 0 (serial) or more, got {args.workers}")
    config = load_config(args.preset, args.params, overrides={
        "dataset": {"n_tomos": args.n_tomos, "seed": args.seed},
        "structures": {"source": args.structures}})
    indices = list(range(config.dataset.n_tomos))
    if args.only:
        indices = sorted({tomo_index(name) for name in args.only})
        beyond = [tomo_name(i) for i in indices if i >= config.dataset.n_tomos]
        if beyond:
            raise InputError(f"{beyond} lie beyond dataset.n_tomos = {config.dataset.n_tomos}")
    library_dir = Path(args.library) if args.library else None
    if library_dir is not None and not (library_dir / "classes.csv").is_file():
        raise InputError("no structure library here (classes.csv missing); run `tomobench structures` "
                         "or leave out --library", library_dir)
    workers = config.dataset.workers if args.workers is None else args.workers
    if len(indices) == 1 and args.workers is None:
        workers = 0   # one tomogram (a DVC simulate stage): a local cluster would only add start-up time
    scheduler = args.scheduler or (config.dataset.scheduler if args.workers is None and not args.slurm else None)
    slurm = (config.dataset.slurm or SlurmParams()) if (args.slurm or args.slurm_script) else None
    if args.slurm_script:
        assert slurm is not None  # set just above whenever --slurm-script is given
        print(_job_script(slurm))
        return 0

    client = connect(workers, scheduler, slurm=slurm)
    try:
        library = _library(config, library_dir)
        done = simulate_many(library, config, indices, args.out, client=client, progress=not args.no_progress)
    finally:
        if client is not None:
            cluster = client.cluster
            client.close()
            if cluster is not None and scheduler is None:
                cluster.close()
    if not args.only:
        write_dataset_classes(args.out, done[0], library)
    where = (f"{workers} local Dask workers" if workers else f"Dask scheduler {scheduler}" if scheduler
             else f"{slurm.jobs} SLURM jobs" if slurm else "serial")
    print(f"simulated {len(done)} tomogram(s) into {args.out} ({where}; preset {args.preset}, "
          f"seed {config.dataset.seed})", file=sys.stderr)
    return 0


def _job_script(slurm: SlurmParams) -> str:
    """The job script SLURM would run for each worker (the cluster's scheduler is started and closed)."""
    from generator.simulate import slurm_cluster

    cluster = slurm_cluster(slurm)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def _library(config, library_dir: Path | None):
    """The structure library: loaded from ``library_dir`` or built from ``structures`` parameters."""
    if library_dir is None:
        from generator.structures import build_library
        return build_library(config.structures)
    from generator.structures.library import load_library
    library = load_library(library_dir)
    wanted = float(config.structures.voxel_size_a)
    if library.templates and abs(library.voxel_size_a - wanted) > 1e-3:
        raise InputError(f"the library's voxel size is {library.voxel_size_a} Å but structures.voxel_size_a = "
                         f"{wanted}; rebuild it (dvc repro structures)", library_dir)
    return library
