"""The 3D U-Net baseline's command line: train, segment and pick.

``tomobench baseline unet --data PUBLIC --out SUBMISSION``: train a 3D U-Net on the train split,
segment each test tomogram and turn the segmentation into particles.

Checkpoints go to ``--checkpoint-dir`` (default ``data/checkpoints/unet``); a run
with the same parameters and training data resumes from (or reuses) them.
Writes the submission (``tomo`` column) and ``<out stem>.timing.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from baselines.params_io import load_method_params
from baselines.pasted import reposed_copies
from baselines.torch_common import (
    Stopwatch,
    add_training_arguments,
    configure_determinism,
    params_digest,
    seed_everything,
    setup_torch,
    source_digest,
    write_timing,
)
from baselines.training_data import (
    PublicDataset,
    TrainTomogram,
    particle_voxel_counts,
    split_train_val,
    target_radii_vox,
)
from baselines.unet.infer import predict_probs
from baselines.unet.model import count_parameters
from baselines.unet.params import UNetParams
from baselines.unet.peaks import Peaks, Truth, find_peaks, nms_by_class_radius, tune_thresholds
from baselines.unet.targets import effective_radii_vox, sphere_targets
from baselines.unet.train import Validator, dice_validator, train_unet
from tomobench.particles import make_particles, write_particles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``tomobench baseline unet`` to ``parser``."""
    parser.add_argument("--params", help="params.yaml (section baselines.unet); defaults otherwise")
    parser.add_argument("--steps", type=int, help="override the number of training steps")
    parser.add_argument("--widths", help="override the widths, e.g. 32,48,64 (DeepFinder)")
    add_training_arguments(parser, "unet")


class Picker:
    """Probability maps -> peaks of a tomogram, with the parameters and class radii of one run."""

    def __init__(self, params: UNetParams, radii_vox: np.ndarray, device: torch.device, progress: bool):
        self.params, self.radii, self.device, self.progress = params, radii_vox, device, progress

    def peaks(self, model: torch.nn.Module, volume: np.ndarray, *, tta: bool) -> Peaks:
        """Peaks of one tomogram: probability maps of ``model``, then peak finding.

        Parameters
        ----------
        model : torch.nn.Module
            The trained U-Net.
        volume : np.ndarray
            The normalised reconstruction, shape ``(z, y, x)``.
        tta : bool
            Average the predictions over test-time rotations.
        """
        p = self.params
        probs = predict_probs(model, volume, patch=p.infer_patch_vox, overlap=p.infer_overlap_vox,
                              batch=p.infer_batch, device=self.device, tta=tta, amp=p.amp, progress=self.progress)
        peaks = find_peaks(probs, self.radii, nms_fraction=p.nms_fraction, min_prob=p.peak_min_prob,
                           smooth_sigma_vox=p.peak_smooth_sigma_vox, exclusive=p.exclusive_peaks,
                           max_per_class=p.peak_max_per_class)
        if p.cross_nms_fraction > 0:
            peaks = peaks.select(nms_by_class_radius(peaks.xyz, peaks.target, p.cross_nms_fraction * self.radii))
        return peaks


def with_sphere_targets(tomos: list[TrainTomogram], names: list[str], voxel_counts: dict[str, list[int]],
                        params: UNetParams) -> list[TrainTomogram]:
    """The tomograms with their targets replaced by a ball at each scored particle's centre."""
    radius = np.maximum(params.sphere_min_radius_vox, params.sphere_fraction * effective_radii_vox(voxel_counts, names))
    out = []
    for t in tomos:
        xyz = t.particles[["x", "y", "z"]].to_numpy(float)
        target = sphere_targets(t.volume.shape, xyz, t.particles["target"].to_numpy(), radius)
        out.append(dataclasses.replace(t, target=target))
    return out


def truth_of(tomo: TrainTomogram) -> Truth | None:
    """The ground truth of a training tomogram for threshold tuning (None without occupancy map)."""
    if tomo.occupancy is None:
        return None
    return Truth.from_particles(tomo.occupancy, tomo.particles["id"].to_numpy(), tomo.particles["target"].to_numpy())


class F1Validator:
    """The tuned-threshold ``threshold_metric`` on the held-out tomogram (no test-time augmentation).

    Called with the (EMA) model, returns the score training selects on; ``curve`` keeps the held-out
    localization F1 and mean per-class F1 of every call (the convergence curve of docs/learned.md).
    """

    def __init__(self, picker: Picker, volume: np.ndarray, truth: Truth, n_targets: int):
        self.picker, self.volume, self.truth, self.n_targets = picker, volume, truth, n_targets
        self.curve: list[tuple[float, float]] = []

    def __call__(self, model: torch.nn.Module) -> float:
        """Score ``model`` (eval mode) on the held-out tomogram; higher is better."""
        metric = self.picker.params.threshold_metric
        _, result = tune_thresholds(self.picker.peaks(model, self.volume, tta=False), self.truth, self.n_targets,
                                    metric=metric)
        self.curve.append((result["localization_f1"], result["mean_class_f1"]))
        return {"localization": result["localization_f1"], "class": result["mean_class_f1"]}.get(
            metric, 0.5 * (result["localization_f1"] + result["mean_class_f1"]))


def run(args: argparse.Namespace) -> int:
    """Run the U-Net baseline: train, tune, segment the test tomograms; returns the exit code."""
    t_start = time.perf_counter()
    widths = [int(w) for w in args.widths.split(",")] if getattr(args, "widths", None) else None
    params = load_method_params(UNetParams, "unet", args.params, {
        "steps": args.steps, "widths": widths, "seed": args.seed, "device": args.device,
        "threads": args.threads})
    device = setup_torch(params.threads, params.device)
    configure_determinism(device, params.deterministic)
    seed_everything(params.seed)
    progress = not args.quiet
    data = PublicDataset(args.data)
    # both splits are checked before the long training starts
    train_folders, test_folders = data.train_folders(), data.test_folders()
    train_clock, infer_clock = Stopwatch(), Stopwatch()
    with train_clock:
        tomos = [data.load_train(f) for f in train_folders]
        counts = particle_voxel_counts(tomos)
        radii = target_radii_vox(data, tomos[0].voxel_size_a, counts)
        if params.target_kind == "sphere":
            tomos = with_sphere_targets(tomos, data.target_names, counts, params)
        picker = Picker(params, radii, device, progress)
        model, thresholds, info = _train(args, params, data, tomos, picker, device)
    picks, voxels = [], 0
    with infer_clock:
        for folder in test_folders:
            volume, _ = data.load_test(folder)
            voxels += volume.size
            peaks = picker.peaks(model, volume, tta=params.tta)
            peaks = peaks.select(peaks.score >= thresholds[peaks.target])
            picks.append(make_particles([data.target_names[t] for t in peaks.target], peaks.xyz,
                                        score=peaks.score, tomo=folder.name))
    df = pd.concat(picks, ignore_index=True)
    if df.empty:
        print("tomobench baseline unet: no peak passed the thresholds; the submission is empty", file=sys.stderr)
    write_particles(df, args.out)
    write_timing(args.out, "unet", wall_s=time.perf_counter() - t_start,
                 train_s=train_clock.seconds + info["resumed_seconds"], infer_s=infer_clock.seconds,
                 device=device, voxels=voxels, train_s_resumed=round(info["resumed_seconds"], 3),
                 n_parameters=count_parameters(model), steps=params.steps, final_fit_steps=params.final_fit_steps,
                 **{k: v for k, v in info.items() if k != "resumed_seconds"})
    print(f"unet: {len(df)} picks in {len(test_folders)} test tomogram(s) -> {args.out} "
          f"(held-out {params.threshold_metric} F1 {info.get('val_f1', float('nan')):.3f})", file=sys.stderr)
    return 0


def _train(args, params: UNetParams, data: PublicDataset, tomos: list[TrainTomogram], picker: Picker,
           device: torch.device) -> tuple[torch.nn.Module, np.ndarray, dict]:
    """Fit the U-Net, tune its thresholds on a held-out tomogram, then refit on all.

    Fit on the train tomograms with validation on the held-out one, tune the per-class thresholds
    there, then the final fit on all train tomograms. Returns (model, thresholds, timing extras).
    """
    tr, va = split_train_val([t.name for t in tomos], params.val_tomograms)
    digest = params_digest({"params": params.model_dump(), "code": source_digest(),
                            "train": [t.name for t in tomos], "shapes": [t.volume.shape for t in tomos],
                            "sums": [float(np.round(np.abs(t.volume).sum(), 1)) for t in tomos],
                            "classes": data.target_names})
    checkpoint = Path(args.checkpoint_dir) / f"unet_{digest}.pt"
    final_checkpoint = Path(args.checkpoint_dir) / f"unet_{digest}_final.pt"
    if args.retrain:
        checkpoint.unlink(missing_ok=True)
        final_checkpoint.unlink(missing_ok=True)
    truth = truth_of(tomos[va[0]]) if va else None
    validate: Validator | None = None
    f1_validate = None
    if va and params.val_metric == "f1" and truth is not None:
        validate = f1_validate = F1Validator(picker, tomos[va[0]].volume, truth, data.n_targets)
    elif va:
        validate = dice_validator([tomos[i].volume for i in va], [tomos[i].target for i in va], data.n_targets,
                                  params, device)
    fit_volumes, fit_targets = [tomos[i].volume for i in tr], [tomos[i].target for i in tr]
    if params.reposed_copies:
        extra = reposed_copies(fit_volumes, fit_targets, [tomos[i].particles for i in tr],
                               data.templates_at(tomos[0].voxel_size_a), params.reposed_copies,
                               np.random.default_rng(np.random.SeedSequence([params.seed, 7])),
                               **data.tilt_range("train", tomos[tr[0]].name))
        fit_volumes, fit_targets = fit_volumes + extra[0], fit_targets + extra[1]
    model, history = train_unet(fit_volumes, fit_targets, data.n_targets, params, device=device, validate=validate,
                                checkpoint=checkpoint, digest=digest, progress=picker.progress)
    thresholds = np.full(data.n_targets, params.peak_min_prob)
    info = {"resumed_seconds": history.get("resumed_seconds", 0.0), "best_val_score": history["best_val_score"],
            "val_metric": params.val_metric, "val_curve": list(zip(history["step"], history["val_score"])),
            "fit_volumes": len(fit_volumes)}
    if f1_validate is not None and len(f1_validate.curve) == len(history["step"]):
        # (step, held-out localization F1, mean class F1); a resumed run lacks the earlier rows
        info["val_f1_curve"] = [(s, loc, cls) for s, (loc, cls) in zip(history["step"], f1_validate.curve)]
    if truth is not None:
        thresholds, result = tune_thresholds(picker.peaks(model, tomos[va[0]].volume, tta=params.tta), truth,
                                             data.n_targets, metric=params.threshold_metric)
        info.update(val_f1=result["localization_f1"] if params.threshold_metric != "class" else
                    result["mean_class_f1"], val_localization_f1=result["localization_f1"],
                    val_mean_class_f1=result["mean_class_f1"],
                    thresholds={n: float(t) for n, t in zip(data.target_names[1:], thresholds[1:])})
    if va and params.final_fit_steps > 0:
        model, final = train_unet([t.volume for t in tomos], [t.target for t in tomos], data.n_targets, params,
                                  steps=params.final_fit_steps, init_state=model.state_dict(),
                                  learning_rate=params.learning_rate * params.final_fit_lr_fraction,
                                  device=device, checkpoint=final_checkpoint, digest=digest + "-final",
                                  progress=picker.progress, desc="final fit")
        info["resumed_seconds"] += final.get("resumed_seconds", 0.0)
    return model, thresholds, info
