"""Point groups that template matching detects on real structures (issue 15; benchmarks only).

    PYTHONPATH=$PWD python benchmarks/bench_tm_symmetry.py [--maps /work/shared/structures/maps_10A]
        [--ctf] [--voxel 10] [--names 1bxn,3cf3]

For every ``*.mrc`` density in ``--maps`` (e.g. the SHREC 2020 classes' maps, or a
structure library's ``templates/``): :func:`~baselines.template_matching.symmetry.detect_symmetry`
on the map, and with ``--ctf`` also on the template as the pipeline prepares it (resampled to
``--voxel`` Å, CTF of 3 µm at 300 kV up to its first zero, dark polarity, boxed and masked).
Prints group, axis (template frame, x y z), the n-fold's and the 2-fold's self-correlation,
and the seconds the detection took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from baselines.template_matching.matching import prepare_template
from baselines.template_matching.symmetry import axis_rotation, detect_symmetry, detection_template, self_correlation
from tomobench.volumes import read_volume

ACQUISITION = {"defocus_um": 3.0, "voltage_kv": 300.0, "cs_mm": 2.7, "amplitude_contrast": 0.08}


def _checks(template: np.ndarray, group) -> tuple[float, float]:
    """Self-correlations of the detected n-fold and 2-fold (NaN where absent), on the detection's template."""
    t = detection_template(template)
    if group.order == 1:
        return float("nan"), float("nan")
    a = group.alignment_matrix
    nfold = self_correlation(t, axis_rotation(a[:, 2], 360.0 / group.order))
    two = self_correlation(t, axis_rotation(a[:, 0], 180.0)) if group.kind == "D" else float("nan")
    return nfold, two


def _row(name: str, stage: str, template: np.ndarray) -> str:
    t0 = time.perf_counter()
    group = detect_symmetry(template)
    seconds = time.perf_counter() - t0
    nfold, two = _checks(template, group)
    axis = " ".join(f"{v:+.3f}" for v in group.axis) if group.order > 1 else "-"
    return (f"| {name} | {stage} | {template.shape[0]} | {group} | {axis} | {nfold:.3f} | {two:.3f} "
            f"| {seconds:.1f} |")


def main(argv: list[str] | None = None) -> int:
    """Print the detection table; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maps", default="/work/shared/structures/maps_10A")
    parser.add_argument("--names", help="comma-separated subset of map stems")
    parser.add_argument("--ctf", action="store_true", help="also detect on the pipeline's CTF-filtered template")
    parser.add_argument("--voxel", type=float, default=10.0, help="working voxel size in Å (with --ctf)")
    args = parser.parse_args(argv)
    paths = sorted(Path(args.maps).glob("*.mrc"))
    if args.names:
        wanted = set(args.names.split(","))
        paths = [p for p in paths if p.stem in wanted]
    print("| map | template | box | group | n-fold axis (x y z) | n-fold corr. | 2-fold corr. | s |")
    print("|---|---|---|---|---|---|---|---|")
    for path in paths:
        raw, voxel_a = read_volume(path)
        print(_row(path.stem, "map", raw), flush=True)
        if args.ctf:
            tpl = prepare_template(path.stem, raw, voxel_a, args.voxel, radius_a=None, acquisition=ACQUISITION,
                                   sign=-1.0, step_deg=30.0, symmetry=1)
            print(_row(path.stem, "CTF-filtered", tpl.template), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
