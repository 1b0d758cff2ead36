"""``tomobench baseline tm --data PUBLIC --out SUBMISSION``: SHREC 2020's template-matching baseline.

For every test tomogram and every scored class with a template in
``PUBLIC/structures``: prepare the template (CTF of the nominal defocus up to its
first zero, missing wedge of the tilt range), scan SO(3) / G (G: the class's point
group, declared in ``symmetry`` or detected) at ``angular_step_deg`` on the tomogram
binned by ``bin`` with local normalised cross-correlation, extract peaks with
exclusion spheres of the class radius (the top ``candidates_factor x N``, or with
``false_alarm`` every peak above the erfc cut-off), optionally refine them at full
resolution (``refine``: position and angle, ``fine_step_deg``), then apply TM-T or
TM-F (``--rule``). The other rule can be written from the same scan (``--other-out``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from baselines.params_io import load_method_params
from baselines.public_data import (
    data_sign,
    particle_densities,
    public_classes,
    public_templates,
    split_tomograms,
    write_submission,
    write_timing,
)
from baselines.template_matching.fiducials import contrast_at, erase_fiducials, separating_threshold
from baselines.template_matching.matching import prepare_template
from baselines.template_matching.search import ScanSettings, search_class
from baselines.template_matching.selection import tm_f, tm_t
from baselines.template_matching.so3 import PointGroup, coarse_step_deg
from baselines.torch_common import resolve_device
from tomobench.errors import InputError
from tomobench.euler import matrix_to_euler
from tomobench.params import Params
from tomobench.particles import make_particles
from tomobench.volumes import write_volume


class TMParams(Params):
    """``baselines.tm`` of params.yaml."""

    angular_step_deg: float = 30.0          # covering radius of the SO(3) grid of the exhaustive (coarse) scan
    coarse_min_rotations: PositiveInt | None = None  # refine: a finer coarse step (never below fine_step_deg)
                                            # for classes whose grid has fewer rotations (None: off)
    bin: Literal[1, 2, 3, 4] = 2            # 2: scan a 2x binned tomogram (8x fewer voxels; minutes on 2 cores)
    refine: bool = False                    # coarse-to-fine: refine the scan's candidates at full resolution
    fine_step_deg: float = 12.85            # covering radius of the refinement's rotation grid
    refine_radius_deg: float | None = None  # fine rotations within this of a start (None: step + fine step)
    refine_shift_vox: int | None = None     # positions within this many full-resolution voxels (None: bin + 1)
    reseed_angles: bool = True              # re-score the whole coarse grid at full resolution per candidate
    max_candidates: int = 2000              # cap on candidates per class with the false-alarm rule (SHREC: 2000)
    classes: list[str] | None = None        # None: every scored class with a template
    rule: Literal["T", "F"] = "F"           # TM-T (thresholded) or TM-F (filtered)
    count_mode: Literal["uniform", "per_class"] = "uniform"   # SHREC: N = expected total / classes
    n_per_class: int | None = None          # fixed N (else from the training split)
    candidates_factor: float = 8.0          # peaks extracted per class = factor * N (SHREC: 2000 for N = 217)
    screen_factor: float | None = None      # refine: screen this x N peaks at full resolution, refine the
                                            # candidates_factor x N best (None: refine every peak)
    false_alarm: bool = False               # N per class = peaks above the erfc cut-off (instead of a fixed N)
    n_false: float = 1.0                    # expected false (voxel, rotation) trials of the scan above the cut-off
    apply_ctf: bool = True
    apply_wedge: bool = True
    polarity: Literal["auto", "bright", "dark"] = "auto"     # auto: measured on the training split
    z_symmetry: dict[str, int] = {}         # class -> Cn order about the template z axis (kept for old params)
    symmetry: dict[str, str] = {}           # class -> point group "C6" / "D7" (z axis, 2-fold along x); wins
    detect_symmetry: bool = True            # else C1 for classes not listed
    mask_edge_vox: float = 1.0
    batch: int = 8
    tile_voxels: int = 2 ** 24
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None              # torch CPU threads (None: torch's default)
    erase_fiducials: bool = True            # replace gold beads (extreme-density blobs) by noise first
    fiducial_z: PositiveFloat | None = None # bead threshold, robust stds of the 1-voxel-smoothed density
                                            # (None: calibrated on the training split's labelled beads)
    fiducial_dilate_vox: NonNegativeInt = 4 # beads grown by this many voxels (rim and ringing)
    seed: int = 0                           # noise that replaces the beads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``tomobench baseline tm`` to ``parser``."""
    parser.add_argument("--params", help="params.yaml with a baselines.tm section (else defaults)")
    parser.add_argument("--rule", choices=["T", "F"], help="TM-T or TM-F for --out (default F)")
    parser.add_argument("--other-out", help="also write the other rule's submission here (same scan)")
    parser.add_argument("--angular-step", type=float, help="angular step in degrees")
    parser.add_argument("--bin", type=int, choices=[1, 2, 3, 4], help="bin the tomogram for the scan")
    parser.add_argument("--refine", action="store_true", help="coarse-to-fine: refine candidates at full resolution")
    parser.add_argument("--fine-step", type=float, help="angular step of the refinement in degrees")
    parser.add_argument("--coarse-min-rotations", type=int,
                        help="refine: finer coarse step for classes with fewer coarse rotations")
    parser.add_argument("--classes", help="comma-separated subset of classes")
    parser.add_argument("--false-alarm", action="store_true", help="apply the erfc false-alarm cut-off")
    parser.add_argument("--score-maps", help="folder for <tomo>_<class>_scores.mrc / _angles.mrc")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--shrec", action="store_true", help="also write one SHREC text file per tomogram")


def _apply_overrides(params: TMParams, args: argparse.Namespace) -> TMParams:
    for flag, field in (("rule", "rule"), ("angular_step", "angular_step_deg"), ("bin", "bin"),
                        ("device", "device"), ("threads", "threads"), ("fine_step", "fine_step_deg"),
                        ("coarse_min_rotations", "coarse_min_rotations")):
        if getattr(args, flag, None) is not None:
            setattr(params, field, getattr(args, flag))
    if getattr(args, "classes", None):
        params.classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    if getattr(args, "false_alarm", False):
        params.false_alarm = True
    if getattr(args, "refine", False):
        params.refine = True
    return params


def _first_finite(*values: float) -> float:
    for value in values:
        if np.isfinite(value):
            return float(value)
    return float("nan")


@dataclass
class Dataset:
    """What the search needs from the public folder, read once."""

    names: list[str]
    templates: dict[str, np.ndarray]
    template_voxel_a: float
    test: list
    sign: float
    density: dict[str, float]
    radius_a: dict[str, float]    # mask: the whole particle (radius_nm, its farthest atom)
    bulk_a: dict[str, float]      # peak exclusion and TM-F overlap: the sphere of equal volume (eff_radius_nm)
    mass: dict[str, float]
    fiducial_z: float | None = None   # bead threshold of the erasure (None: nothing erased)


def fiducial_threshold(train: list, classes, sign: float, params: TMParams) -> float | None:
    """The bead threshold: ``params.fiducial_z``, else calibrated on the training split (None: no erasure).

    Calibration: :func:`~.fiducials.separating_threshold` of the contrast at the labelled
    particles of the scored classes and at the labelled beads (classes of kind ``fiducial``).
    """
    if not params.erase_fiducials:
        return None
    if params.fiducial_z is not None:
        return float(params.fiducial_z)
    table = classes.table
    beads = set(table.loc[table["kind"].astype(str) == "fiducial", "class_name"]) if "kind" in table else set()
    particle_values, bead_values = [], []
    for tomo in train:
        truth = tomo.truth()
        wanted = truth[truth["class"].isin(beads | set(classes.scored_names))]
        if not len(wanted) or not (wanted["class"].isin(beads)).any():
            continue
        volume, _ = tomo.reconstruction()
        values = contrast_at(volume, sign, wanted[["z", "y", "x"]].to_numpy(float))
        is_bead = wanted["class"].isin(beads).to_numpy()
        particle_values.append(values[~is_bead])
        bead_values.append(values[is_bead])
    if not bead_values:
        return None
    return separating_threshold(np.concatenate(particle_values), np.concatenate(bead_values))


def read_dataset(public: Path, params: TMParams) -> Dataset:
    """The test tomograms and class templates of a public dataset, checked against ``params``."""
    classes = public_classes(public)
    templates, template_voxel_a = public_templates(public, params.classes or classes.scored_names)
    names = params.classes or [c for c in classes.scored_names if c in templates]
    missing = [c for c in names if c not in templates]
    if missing or not names:
        raise InputError(f"no template for class(es) {missing or classes.scored_names} in structures/",
                         public / "structures")
    train = [t for t in split_tomograms(public, "train") if t.has_truth]
    sign = {"bright": 1.0, "dark": -1.0}.get(params.polarity) or data_sign(train)
    density = particle_densities(train, classes.scored_names)
    if params.n_per_class is None and not density and not params.false_alarm:
        raise InputError("N per class needs a training split with ground truth or baselines.tm.n_per_class", public)
    # (class_name, radius_nm, eff_radius_nm, mass_kda) per class, as Python scalars
    rows = list(zip(*(classes.table[c].tolist() for c in ("class_name", "radius_nm", "eff_radius_nm", "mass_kda"))))
    return Dataset(names, templates, template_voxel_a, split_tomograms(public, "test"), sign, density,
                    {c: _first_finite(r_nm, eff_nm) * 10.0 for c, r_nm, eff_nm, _ in rows},
                    {c: _first_finite(eff_nm, r_nm) * 10.0 for c, r_nm, eff_nm, _ in rows},
                    {c: mass for c, _, _, mass in rows if np.isfinite(mass)},
                    fiducial_threshold(train, classes, sign, params))


def expected_counts(params: TMParams, data: Dataset, n_voxels: int) -> dict[str, int]:
    """SHREC's N per class: training density x test volume (uniform: averaged over the classes)."""
    if params.n_per_class is not None:
        return {c: max(int(params.n_per_class), 1) for c in data.names}
    uniform = sum(data.density.get(n, 0.0) for n in data.names) / len(data.names)
    return {c: max(int(round((uniform if params.count_mode == "uniform" else data.density.get(c, 0.0))
                             * n_voxels)), 1) for c in data.names}


def candidate_counts(params: TMParams, n_expected: int) -> tuple[int, int | None]:
    """Peaks extracted from the scan and, with screening, how many of them are refined (None: all)."""
    if params.false_alarm:
        return params.max_candidates, None
    refined = int(np.ceil(params.candidates_factor * n_expected))
    if not params.refine or params.screen_factor is None or params.screen_factor <= params.candidates_factor:
        return refined, None
    return int(np.ceil(params.screen_factor * n_expected)), refined


def templates_for(name: str, params: TMParams, data: Dataset, acq: dict, voxel_a: float):
    """The scan's template (binned voxels, coarse grid) and, with ``refine``, the full-resolution one (fine grid).

    With ``refine`` the coarse step is :func:`~.so3.coarse_step_deg` of the class's group
    (``coarse_min_rotations``); the scan template's ``step_deg`` says which step it got.
    """
    symmetry: str | int | PointGroup | None = params.symmetry.get(name) or params.z_symmetry.get(name)
    if symmetry is None and not params.detect_symmetry:
        symmetry = 1
    opts: dict[str, Any] = dict(radius_a=data.radius_a.get(name), acquisition=acq, sign=data.sign,
                                apply_ctf=params.apply_ctf, mask_edge_vox=params.mask_edge_vox)
    fine = None
    if params.refine:   # detect on the full-resolution template (binning blurs symmetry away)
        fine = prepare_template(name, data.templates[name], data.template_voxel_a, voxel_a,
                                step_deg=params.fine_step_deg, symmetry=symmetry, **opts)
        symmetry = fine.symmetry
    step = params.angular_step_deg
    if fine is not None:
        step = coarse_step_deg(step, params.fine_step_deg, fine.symmetry, params.coarse_min_rotations)
    coarse = prepare_template(name, data.templates[name], data.template_voxel_a, voxel_a * params.bin,
                              step_deg=step, symmetry=symmetry, **opts)
    return coarse, fine


def _search_tomogram(tomo, params: TMParams, data: Dataset, device: str, args, log: dict):
    """Candidates of every class in one test tomogram, and the N per class to select."""
    acq = tomo.acquisition()
    volume, header_voxel = tomo.reconstruction()
    voxel_a = float(acq.get("voxel_size_a") or header_voxel)
    if data.fiducial_z is not None:
        erased = erase_fiducials(volume, data.sign, z_threshold=data.fiducial_z,
                                 dilate_vox=params.fiducial_dilate_vox, seed=params.seed)
        volume = erased.volume
        log["fiducials"][tomo.name] = erased.n_blobs
        print(f"tm {tomo.name}: {erased.n_blobs} fiducial blob(s) above {data.fiducial_z:.2f} erased "
              f"({int(erased.mask.sum())} voxels)")
    n_expected = expected_counts(params, data, volume.size)
    tilts = np.asarray(acq["tilt_angles_deg"], dtype=float)
    settings = ScanSettings(bin=params.bin, tilt_range_deg=(tilts.min(), tilts.max()) if params.apply_wedge else None,
                            tilt_axis_deg=_reconstruction_axis_deg(acq), device=device, batch=params.batch,
                            tile_voxels=params.tile_voxels, refine_radius_deg=params.refine_radius_deg,
                            refine_shift_vox=params.refine_shift_vox, reseed_angles=params.reseed_angles)
    log["voxels"] += volume.size // params.bin ** 3
    frames, radii_vox, n_select = [], {}, {}
    for name in data.names:
        t0 = time.perf_counter()
        coarse, fine = templates_for(name, params, data, acq, voxel_a)
        bulk = data.bulk_a[name] / (voxel_a * params.bin) if np.isfinite(data.bulk_a[name]) else coarse.radius_vox
        n_candidates, keep = candidate_counts(params, n_expected[name])
        found = search_class(volume, coarse, fine, settings=settings, exclusion_vox=bulk, n_candidates=n_candidates,
                             n_false=params.n_false if params.false_alarm else None,
                             coarse_step_deg=coarse.step_deg, fine_step_deg=params.fine_step_deg,
                             refine_keep=keep)
        radii_vox[name] = bulk * params.bin          # candidates are in full-resolution voxels
        n_select[name] = max(len(found.scores), 1) if params.false_alarm else n_expected[name]
        angles = matrix_to_euler(found.rotations) if len(found.scores) else np.zeros((0, 3))
        frames.append(make_particles([name] * len(found.scores), found.zyx[:, ::-1], angles, score=found.scores,
                                     tomo=[tomo.name] * len(found.scores)))
        if args.score_maps:
            out = Path(args.score_maps)
            write_volume(out / f"{tomo.name}_{name}_scores.mrc", found.score_map, voxel_a * params.bin)
            write_volume(out / f"{tomo.name}_{name}_angles.mrc", found.index_map.astype(np.float32),
                         voxel_a * params.bin)
        log["rotations"][name] = found.scan_rotations
        log["coarse_step_deg"][name] = coarse.step_deg
        log["symmetry"][name] = coarse.symmetry.describe()
        log["refine_evaluations"][name] = log["refine_evaluations"].get(name, 0) + found.refine_evaluations
        log["per_class_s"][name] = log["per_class_s"].get(name, 0.0) + time.perf_counter() - t0
        log["cutoff"][name] = found.cutoff
        print(f"tm {tomo.name} {name}: {found.scan_rotations} rotations ({coarse.symmetry.describe()}, "
              f"{coarse.step_deg:g} deg), "
              f"{len(found.scores)} candidates"
              + (f" above {found.cutoff:.4f} (sigma {found.sigma:.4f})" if params.false_alarm else "")
              + (f", {found.refine_evaluations} refinement correlations" if fine is not None else "")
              + f", {log['per_class_s'][name]:.1f} s")
    return pd.concat(frames, ignore_index=True), n_select, radii_vox


def run(args: argparse.Namespace) -> int:
    """Run the template-matching baseline (TM-T and/or TM-F); returns the exit code."""
    start = time.perf_counter()
    params = _apply_overrides(load_method_params(TMParams, "tm", args.params, {}), args)
    if params.threads:
        torch.set_num_threads(params.threads)
    device = resolve_device(params.device)
    data = read_dataset(Path(args.data), params)
    log: dict[str, Any] = {"voxels": 0, "rotations": {}, "refine_evaluations": {}, "per_class_s": {}, "cutoff": {},
                           "coarse_step_deg": {}, "symmetry": {},
                           "fiducials": {}}
    picks_t, picks_f = [], []
    for tomo in data.test:
        candidates, n_select, radii_vox = _search_tomogram(tomo, params, data, device, args, log)
        size = data.mass if all(c in data.mass for c in data.names) else None
        picks_t.append(tm_t(candidates, n_select, radii_vox, size))
        picks_f.append(tm_f(candidates, n_select, radii_vox, size))
    infer_s = time.perf_counter() - start
    chosen, other = (picks_t, picks_f) if params.rule == "T" else (picks_f, picks_t)
    outputs = [(args.out, params.rule, chosen)]
    if args.other_out:
        outputs.append((args.other_out, "F" if params.rule == "T" else "T", other))
    for out, rule, frames in outputs:
        picks = pd.concat(frames, ignore_index=True)
        write_submission(picks, out, shrec=args.shrec)
        write_timing(out, {
            "method": f"tm-{rule.lower()}", "wall_s": time.perf_counter() - start, "train_s": 0.0,
            "infer_s": infer_s, "device": device if device == "cpu" else torch.cuda.get_device_name(),
            "n_rotations": int(sum(log["rotations"].values())), "rotations_per_class": log["rotations"],
            "refine_evaluations_per_class": log["refine_evaluations"], "voxels": log["voxels"],
            "per_class_s": log["per_class_s"], "fiducials_erased": log["fiducials"],
            "fiducial_z": data.fiducial_z, "angular_step_deg": params.angular_step_deg,
            "coarse_step_deg_per_class": log["coarse_step_deg"], "symmetry_per_class": log["symmetry"],
            "fine_step_deg": params.fine_step_deg if params.refine else None, "bin": params.bin,
            "torch_threads": torch.get_num_threads(), "params": params.model_dump()})
        print(f"tm-{rule.lower()}: {len(picks)} picks -> {out}")
    return 0


def _reconstruction_axis_deg(acq: dict) -> float:
    """Tilt-axis angle of the missing wedge *in the tomogram*.

    tomobench reconstructions are in the specimen frame (axis along y) whatever the detector's
    ``tilt_axis_deg``; other data may give only ``tilt_axis_deg``.
    """
    value = acq.get("reconstruction_tilt_axis_deg", acq.get("tilt_axis_deg"))
    return float(value or 0.0)
