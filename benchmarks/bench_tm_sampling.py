"""Template matching: F1 against the angular step and the bin, on a crop of a test tomogram.

    PYTHONPATH=$PWD python benchmarks/bench_tm_sampling.py --data PUBLIC --truth PRIVATE
        [--params params.yaml] [--crop 128,128,100] [--runs 1:40,1:30,2:40,2:30,2:20,2:15]
        [--png docs/tm_sampling.png] [--threads 1]

For every ``bin:step`` of ``--runs`` (bin, angular step in degrees): the exhaustive scan of every scored class
(no refinement: the step and bin alone decide) on a centred crop of the first test
tomogram, gold beads erased first as the pipeline does, then TM-F with the
pipeline's N per class (training density x crop volume) and ``candidates_factor``
x N candidates. Per-class F1 by centre distance (a pick within the class's
effective radius of an unclaimed particle of its class: ``bench_tm.class_f1``, not the
occupancy-mask scorer, which needs the whole tomogram's masks) and its mean over each
size group. Prints the table it plots (one row per run, with the measured wall time of
the scans) and writes the plot.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_tm import _crop, class_f1, read_dataset_table  # noqa: E402

from baselines.params_io import load_method_params  # noqa: E402
from baselines.template_matching.cli import (  # noqa: E402
    TMParams,
    _reconstruction_axis_deg,
    expected_counts,
    read_dataset,
    templates_for,
)
from baselines.template_matching.fiducials import erase_fiducials  # noqa: E402
from baselines.template_matching.search import ScanSettings, search_class  # noqa: E402
from baselines.template_matching.selection import tm_f  # noqa: E402
from baselines.torch_common import resolve_device  # noqa: E402
from tomobench.euler import matrix_to_euler  # noqa: E402
from tomobench.particles import make_particles, read_particles  # noqa: E402


def sweep_one(crop: np.ndarray, truth: pd.DataFrame, data, params: TMParams, acq: dict, device: str,
              ) -> tuple[dict[str, float], float, int]:
    """Per-class F1, seconds and rotations of one exhaustive TM-F run at ``params``' step and bin."""
    voxel_a = float(acq["voxel_size_a"])
    tilts = np.asarray(acq["tilt_angles_deg"], float)
    settings = ScanSettings(bin=params.bin, tilt_range_deg=(tilts.min(), tilts.max()),
                            tilt_axis_deg=_reconstruction_axis_deg(acq), device=device, batch=params.batch)
    n_expected = expected_counts(params, data, crop.size)
    radii_full = {c: data.bulk_a[c] / voxel_a for c in data.names}
    frames, seconds, rotations = [], 0.0, 0
    for name in data.names:
        coarse, _ = templates_for(name, params, data, acq, voxel_a)
        t0 = time.perf_counter()
        found = search_class(crop, coarse, None, settings=settings, exclusion_vox=radii_full[name] / params.bin,
                             n_candidates=int(np.ceil(params.candidates_factor * n_expected[name])))
        seconds += time.perf_counter() - t0
        rotations += found.scan_rotations
        frames.append(make_particles([name] * len(found.scores), found.zyx[:, ::-1],
                                     matrix_to_euler(found.rotations).reshape(-1, 3), score=found.scores))
    size = data.mass if all(c in data.mass for c in data.names) else None
    picks = tm_f(pd.concat(frames, ignore_index=True), n_expected, radii_full, size)
    return class_f1(picks, truth, radii_full), seconds, rotations


def plot(rows: pd.DataFrame, groups: list[str], voxel_a: float, out: Path) -> None:
    """One panel per size group (and all classes): F1 against the angular step, one line per bin."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = groups + ["all"]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 3.2), sharey=True, squeeze=False)
    for ax, g in zip(axes[0], panels):
        for b, marker in zip(sorted(rows["bin"].unique()), "os^D"):
            sub = rows[rows["bin"] == b].sort_values("step_deg")
            ax.plot(sub["step_deg"], sub[g], marker=marker, label=f"bin {b} ({b * voxel_a:g} A)")
        ax.set_title(g if g != "all" else "all classes", fontsize=10)
        ax.set_xlabel("angular step (deg)")
        ax.invert_xaxis()
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("TM-F classification F1\n(mean over the classes)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("Exhaustive template matching on a crop of the test tomogram: F1 against step and bin", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="public folder")
    ap.add_argument("--truth", required=True, help="private folder with <tomo>/particle_locations.txt")
    ap.add_argument("--crop", default="128,128,100", help="crop size x,y,z (centred)")
    ap.add_argument("--runs", default="1:40,1:30,2:40,2:30,2:20,2:15", help="bin:step pairs")
    ap.add_argument("--candidates-factor", type=float, default=3.0)
    ap.add_argument("--png", default="docs/tm_sampling.png")
    ap.add_argument("--params", help="params.yaml whose baselines.tm section (point groups, ...) the runs start from")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    base = load_method_params(TMParams, "tm", args.params, {}) if args.params else TMParams()
    base = base.model_copy(update={"candidates_factor": args.candidates_factor, "device": device, "refine": False})
    data = read_dataset(Path(args.data), base)
    tomo = data.test[0]
    volume, _ = tomo.reconstruction()
    acq = tomo.acquisition()
    if data.fiducial_z is not None:
        volume = erase_fiducials(volume, data.sign, z_threshold=data.fiducial_z, seed=base.seed).volume
    crop, truth = _crop(volume, read_particles(Path(args.truth) / tomo.name / "particle_locations.txt"),
                        [int(v) for v in args.crop.split(",")][::-1])
    table = {r.class_name: r.size_group for r in read_dataset_table(Path(args.data))}
    groups = [g for g in ("small", "medium", "large") if g in {table.get(c) for c in data.names}]
    print(f"{tomo.name}, crop {args.crop} (xyz), {int(truth['class'].isin(data.names).sum())} particles of "
          f"{len(data.names)} classes; exhaustive scan + TM-F; F1 by centre distance; device {device}, "
          f"torch threads {torch.get_num_threads()}\n")
    print("| bin | step (deg) | rotations | " + " | ".join(groups) + " | all | scan time (s) |")
    print("|---|---|---|" + "---|" * len(groups) + "---|---|")
    rows = []
    for run in args.runs.split(","):
        b, step = int(run.split(":")[0]), float(run.split(":")[1])
        params = base.model_copy(update={"bin": b, "angular_step_deg": step})
        f1, seconds, n_rot = sweep_one(crop, truth, data, params, acq, device)
        row = {"bin": b, "step_deg": step, "rotations": n_rot, "seconds": seconds,
               "all": float(np.mean(list(f1.values())))}
        row.update({g: float(np.mean([f1[c] for c in data.names if table.get(c) == g])) for g in groups})
        rows.append(row)
        print(f"| {b} | {step:g} | {n_rot} | " + " | ".join(f"{row[g]:.3f}" for g in groups)
              + f" | {row['all']:.3f} | {seconds:.0f} |", flush=True)
        print("  per class: " + ", ".join(f"{c} {v:.2f}" for c, v in f1.items()), flush=True)
    plot(pd.DataFrame(rows), groups, float(acq["voxel_size_a"]), Path(args.png))
    print(f"\nplot: {args.png}")


if __name__ == "__main__":
    main()
