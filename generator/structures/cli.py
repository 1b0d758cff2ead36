"""``tomobench structures --source SOURCE --voxel-size A --out DIR``: build and write a structure library."""

from __future__ import annotations

import argparse
import sys
import time

from generator.structures.params import StructureParams
from tomobench.params import read_yaml, validate


def register(subparsers) -> None:
    """Add the ``structures`` sub-command to the ``tomobench`` argument parser ``subparsers``."""
    p = subparsers.add_parser("structures", help="build a structure library (templates, classes.csv, ball models)",
                              description=__doc__)
    p.add_argument("--source", help="builtin | a folder of PDB/mmCIF/MRC files | comma-separated PDB ids")
    p.add_argument("--voxel-size", type=float, dest="voxel_size_a", help="voxel size of the templates (Å)")
    p.add_argument("--out", required=True, help="output folder (data/structures)")
    p.add_argument("--params", help="params.yaml to read the 'structures' section from (flags override it)")
    p.add_argument("--assembly", help="biological (default) | asymmetric | an assembly id")
    p.add_argument("--cache-dir", dest="cache_dir", help="where downloaded PDB entries are kept")
    p.add_argument("--offline", action="store_true", default=None, help="never download")
    p.add_argument("--seed", type=int, help="seed of the built-in complexes and k-means")
    p.add_argument("--no-pictures", dest="pictures", action="store_false", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the library from ``--params`` and the flags (flags override), write it, print its classes.

    Returns the exit status, 0.
    """
    from generator.structures.build import build_library_report, write_outputs

    data = dict(read_yaml(args.params).get("structures") or {}) if args.params else {}
    for key in ("source", "voxel_size_a", "assembly", "cache_dir", "offline", "seed", "pictures"):
        value = getattr(args, key, None)
        if value is not None:
            data[key] = value
    params = validate(StructureParams, data, source=args.params or "command line", section="structures")
    start = time.perf_counter()
    result = build_library_report(params, progress=True)
    out = write_outputs(result, args.out, pictures=params.pictures)
    table = result.library.classes.table
    print(table[["class_name", "label", "mass_kda", "volume_nm3", "sphericity", "radius_nm", "size_group"]]
          .to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"{len(table)} classes at {params.voxel_size_a:g} Å/voxel written to {out} "
          f"in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0
