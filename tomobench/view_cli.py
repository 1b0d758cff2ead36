"""``tomobench view`` and ``tomobench export-imod``.

    tomobench view TOMO.mrc [--picks FILE] [--png OUT.png] [--tomo NAME] [--voxel-size A]
    tomobench export-imod PICKS OUT.txt [--tomo NAME] [--voxel-size A] [--classes classes.csv]

``view`` opens napari (optional extra ``tomobench[view]``) or, with ``--png``,
writes a picture of slices with the picks drawn. Picks are any particle-list
format; STAR class numbers and copick names go through the nearest
``classes.csv`` (beside the tomogram or above it). A list for several tomograms
is cut to ``--tomo`` (default: the tomogram's folder name, when the list names it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from tomobench.classes import read_classes
from tomobench.errors import InputError
from tomobench.groundtruth import find_classes_csv
from tomobench.particles import read_particles
from tomobench.volumes import read_volume


def register_view(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``view`` subcommand to ``tomobench``."""
    p = subparsers.add_parser("view", help="look at a tomogram with its picks (napari, or a PNG of slices)")
    p.add_argument("tomogram", help="an MRC volume, e.g. data/public/train/tomo_000/reconstruction.mrc")
    _pick_args(p, required=False)
    p.add_argument("--png", default=None, metavar="OUT", help="write a PNG of slices with the picks instead of napari")
    p.set_defaults(func=run_view)


def register_imod(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export-imod`` subcommand to ``tomobench``."""
    p = subparsers.add_parser("export-imod", help="write picks as an IMOD point2model text file")
    p.add_argument("picks_file", metavar="PICKS", help="particle list (.txt, .csv, .star, .json)")
    p.add_argument("out", help="output text file (point2model -scat -sphere 5 OUT picks.mod)")
    p.add_argument("--tomo", default=None, help="keep only this tomogram's picks")
    p.add_argument("--voxel-size", type=float, default=None, help="Å per voxel (copick and RELION 5 files)")
    p.add_argument("--classes", default=None, help="classes.csv (object numbers follow its order)")
    p.set_defaults(func=run_imod)


def _pick_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--picks", default=None, required=required, help="particle list to draw")
    p.add_argument("--tomo", default=None, help="which tomogram of a multi-tomogram list (default: the folder name)")
    p.add_argument("--voxel-size", type=float, default=None, help="Å per voxel (default: the MRC header)")
    p.add_argument("--classes", default=None, help="classes.csv (default: the nearest one)")


def _class_table(path: str | None, near: Path):
    csv_path = Path(path) if path else find_classes_csv(near)
    return read_classes(csv_path) if csv_path else None


def load_picks(path: str | Path, *, voxel_size_a: float | None, classes, tomo: str | None,
               tomo_shape_xyz=None) -> pd.DataFrame:
    """Read a pick list for one tomogram (``tomo``: keep its rows when the list names tomograms)."""
    picks = read_particles(path, voxel_size_a=voxel_size_a, tomo_shape_xyz=tomo_shape_xyz,
                           label_to_class=classes.name_of_label() if classes is not None else None)
    names = set(picks["tomo"]) - {""}
    if tomo is not None and tomo in names:
        return picks[picks["tomo"] == tomo]
    if tomo is not None and len(names) > 1:
        raise InputError(f"the picks name tomograms {sorted(names)}, not {tomo!r}; choose one with --tomo", path)
    return picks


def run_view(args: argparse.Namespace) -> int:
    """``tomobench view``: open the tomogram with its picks in napari, or write a PNG of slices."""
    tomogram = Path(args.tomogram)
    volume, header_a = read_volume(tomogram, mmap=args.png is not None)
    voxel_size_a = args.voxel_size or header_a or None
    classes = _class_table(args.classes, tomogram.parent)
    order = classes.names if classes is not None else None
    picks = None
    if args.picks:
        picks = load_picks(args.picks, voxel_size_a=voxel_size_a, classes=classes,
                           tomo=args.tomo or tomogram.parent.name, tomo_shape_xyz=volume.shape[::-1])
    if args.png:
        from tomobench.view import class_radii_vox, write_slices_png
        out = write_slices_png(volume, picks, args.png, title=str(tomogram), class_order=order,
                               radius_vox=class_radii_vox(classes, voxel_size_a) or 5.0)
        print(f"wrote {out}", file=sys.stderr)
        return 0
    from tomobench.view import open_napari
    open_napari(volume, picks, voxel_size_a or 1.0, order)
    return 0


def run_imod(args: argparse.Namespace) -> int:
    """``tomobench export-imod``: write the picks as an IMOD point2model text file."""
    from tomobench.imod import write_point_model

    classes = _class_table(args.classes, Path(args.picks_file).parent)
    picks = load_picks(args.picks_file, voxel_size_a=args.voxel_size, classes=classes, tomo=args.tomo)
    out = write_point_model(picks, args.out, classes.names if classes is not None else None)
    print(f"wrote {out} ({len(picks)} points) and {out.with_name(out.stem + '_objects.csv')}; "
          f"convert with: point2model -scat -sphere 5 {out} {out.with_suffix('.mod')}", file=sys.stderr)
    return 0
