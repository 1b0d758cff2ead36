"""``tomobench baseline tm --data PUBLIC --out SUBMISSION``: SHREC 2020's template-matching baseline.

For every test tomogram and every scored class with a template in
``PUBLIC/structures``: prepare the template (CTF of the nominal defocus up to its
first zero, missing wedge of the tilt range), scan SO(3) at ``angular_step_deg``
with local normalised cross-correlation, extract ``n_candidates`` peaks with
exclusion spheres of the class radius, then apply TM-T or TM-F (``--rule``).
The other rule can be written from the same scan (``--other-out``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch

from baselines.params_io import load_method_params
from baselines.public_data import (data_sign, particle_densities, public_classes, public_templates,
                                   split_tomograms, write_submission, write_timing)
from baselines.template_matching.matching import bin_volume, match_template, prepare_template
from baselines.template_matching.peaks import extract_peaks
from baselines.template_matching.selection import false_alarm_cutoff, tm_f, tm_t
from baselines.torch_common import resolve_device
from tomobench.errors import InputError
from tomobench.euler import matrix_to_euler
from tomobench.params import Params
from tomobench.particles import make_particles
from tomobench.volumes import write_volume


class TMParams(Params):
    """``baselines.tm`` of params.yaml."""

    angular_step_deg: float = 30.0          # covering radius of the SO(3) grid
    bin: Literal[1, 2] = 2                  # 2: match on a 2x binned tomogram (8x fewer voxels; minutes on 2 cores)
    classes: list[str] | None = None        # None: every scored class with a template
    rule: Literal["T", "F"] = "F"           # TM-T (thresholded) or TM-F (filtered)
    count_mode: Literal["uniform", "per_class"] = "uniform"   # SHREC: N = expected total / classes
    n_per_class: int | None = None          # fixed N (else from the training split)
    candidates_factor: float = 8.0          # peaks extracted per class = factor * N (SHREC: 2000 for N = 217)
    false_alarm: bool = False               # keep only scores above the erfc cut-off
    n_false: float = 1.0                    # expected false peaks of the whole search at that cut-off
    apply_ctf: bool = True
    apply_wedge: bool = True
    polarity: Literal["auto", "bright", "dark"] = "auto"     # auto: measured on the training split
    z_symmetry: dict[str, int] = {}         # class -> order about the template z axis (else detected)
    detect_symmetry: bool = True
    mask_edge_vox: float = 1.0
    batch: int = 8
    tile_voxels: int = 2 ** 24
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = None              # torch CPU threads (None: torch's default)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", help="params.yaml with a baselines.tm section (else defaults)")
    parser.add_argument("--rule", choices=["T", "F"], help="TM-T or TM-F for --out (default F)")
    parser.add_argument("--other-out", help="also write the other rule's submission here (same scan)")
    parser.add_argument("--angular-step", type=float, help="angular step in degrees")
    parser.add_argument("--bin", type=int, choices=[1, 2], help="bin the tomogram by 2 for speed")
    parser.add_argument("--classes", help="comma-separated subset of classes")
    parser.add_argument("--false-alarm", action="store_true", help="apply the erfc false-alarm cut-off")
    parser.add_argument("--score-maps", help="folder for <tomo>_<class>_scores.mrc / _angles.mrc")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--shrec", action="store_true", help="also write one SHREC text file per tomogram")


def _apply_overrides(params: TMParams, args: argparse.Namespace) -> TMParams:
    for flag, field in (("rule", "rule"), ("angular_step", "angular_step_deg"), ("bin", "bin"),
                        ("device", "device"), ("threads", "threads")):
        if getattr(args, flag, None) is not None:
            setattr(params, field, getattr(args, flag))
    if getattr(args, "classes", None):
        params.classes = [c.strip() for c in args.classes.split(",") if c.strip()]
    if getattr(args, "false_alarm", False):
        params.false_alarm = True
    return params


def _first_finite(*values: float) -> float:
    for value in values:
        if np.isfinite(value):
            return float(value)
    return float("nan")


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    params = _apply_overrides(load_method_params(TMParams, "tm", args.params, {}), args)
    if params.threads:
        torch.set_num_threads(params.threads)
    device = resolve_device(params.device)
    public = Path(args.data)
    classes = public_classes(public)
    templates, template_voxel_a = public_templates(public, params.classes or classes.scored_names)
    names = params.classes or [c for c in classes.scored_names if c in templates]
    missing = [c for c in names if c not in templates]
    if missing or not names:
        raise InputError(f"no template for class(es) {missing or classes.scored_names} in structures/",
                         public / "structures")
    train = [t for t in split_tomograms(public, "train") if t.has_truth]
    test = split_tomograms(public, "test")
    sign = {"bright": 1.0, "dark": -1.0}.get(params.polarity) or data_sign(train)
    density = particle_densities(train, classes.scored_names)
    if params.n_per_class is None and not density:
        raise InputError("N per class needs a training split with ground truth or baselines.tm.n_per_class", public)
    # The mask must hold the whole particle (radius_nm: its farthest atom); peak exclusion and
    # the TM-F overlap test use the particle's bulk (eff_radius_nm: the sphere of equal volume).
    radius_a = {row.class_name: _first_finite(row.radius_nm, row.eff_radius_nm) * 10.0
                for row in classes.table.itertuples()}
    bulk_a = {row.class_name: _first_finite(row.eff_radius_nm, row.radius_nm) * 10.0
              for row in classes.table.itertuples()}
    mass = {row.class_name: row.mass_kda for row in classes.table.itertuples() if np.isfinite(row.mass_kda)}

    picks_t, picks_f, n_rotations, voxels, per_class_s = [], [], {}, 0, {}
    for tomo in test:
        acq = tomo.acquisition()
        volume, header_voxel = tomo.reconstruction()
        voxel_a = float(acq.get("voxel_size_a") or header_voxel)
        n_expected = {c: (params.n_per_class if params.n_per_class is not None else
                          (sum(density.get(n, 0.0) for n in names) / len(names) if params.count_mode == "uniform"
                           else density.get(c, 0.0)) * volume.size) for c in names}
        n_expected = {c: max(int(round(n)), 1) for c, n in n_expected.items()}
        work = bin_volume(volume, params.bin)
        work_voxel = voxel_a * params.bin
        voxels += work.size
        tilts = np.asarray(acq["tilt_angles_deg"], dtype=float)
        frames, radii_vox = [], {}
        for name in names:
            t0 = time.perf_counter()
            tpl = prepare_template(
                name, templates[name], template_voxel_a, work_voxel, radius_a=radius_a.get(name),
                acquisition=acq, sign=sign, step_deg=params.angular_step_deg, apply_ctf=params.apply_ctf,
                z_symmetry=params.z_symmetry.get(name, None if params.detect_symmetry else 1),
                mask_edge_vox=params.mask_edge_vox)
            scores, index = match_template(
                work, tpl, tilt_range_deg=(tilts.min(), tilts.max()) if params.apply_wedge else None,
                tilt_axis_deg=_reconstruction_axis_deg(acq), device=device, batch=params.batch,
                tile_voxels=params.tile_voxels)
            n_rotations[name] = len(tpl.rotations)
            cutoff = -np.inf
            if params.false_alarm:
                cutoff = false_alarm_cutoff(float(scores.std()), scores.size, len(tpl.rotations), params.n_false)
            bulk_vox = bulk_a[name] / work_voxel if np.isfinite(bulk_a[name]) else tpl.radius_vox
            radii_vox[name] = bulk_vox * work_voxel / voxel_a   # candidates are in full-resolution voxels
            zyx, values = extract_peaks(scores, int(np.ceil(params.candidates_factor * n_expected[name])),
                                        bulk_vox, min_score=cutoff)
            angles = matrix_to_euler(tpl.rotations[index[tuple(zyx.T)]]) if len(zyx) else np.zeros((0, 3))
            xyz = zyx[:, ::-1] * params.bin + (0.5 if params.bin == 2 else 0.0)
            frames.append(make_particles([name] * len(zyx), xyz, angles, score=values, tomo=[tomo.name] * len(zyx)))
            if args.score_maps:
                out = Path(args.score_maps)
                write_volume(out / f"{tomo.name}_{name}_scores.mrc", scores, work_voxel)
                write_volume(out / f"{tomo.name}_{name}_angles.mrc", index.astype(np.float32), work_voxel)
            per_class_s[name] = per_class_s.get(name, 0.0) + time.perf_counter() - t0
            print(f"tm {tomo.name} {name}: {len(tpl.rotations)} rotations (z symmetry {tpl.z_symmetry}), "
                  f"{len(zyx)} candidates, {per_class_s[name]:.1f} s")
        candidates = pd.concat(frames, ignore_index=True)
        size = mass if all(c in mass for c in names) else None
        picks_t.append(tm_t(candidates, n_expected, radii_vox, size))
        picks_f.append(tm_f(candidates, n_expected, radii_vox, size))
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
            "n_rotations": int(sum(n_rotations.values())), "rotations_per_class": n_rotations,
            "voxels": voxels, "per_class_s": per_class_s, "angular_step_deg": params.angular_step_deg,
            "bin": params.bin, "torch_threads": torch.get_num_threads(), "params": params.model_dump()})
        print(f"tm-{rule.lower()}: {len(picks)} picks -> {out}")
    return 0


def _reconstruction_axis_deg(acq: dict) -> float:
    """Tilt-axis angle of the missing wedge *in the tomogram*.

    tomobench reconstructions are in the specimen frame (axis along y) whatever the detector's
    ``tilt_axis_deg``; other data may give only ``tilt_axis_deg``.
    """
    value = acq.get("reconstruction_tilt_axis_deg", acq.get("tilt_axis_deg"))
    return float(value or 0.0)
