"""``tomobench baseline unet --data PUBLIC --out SUBMISSION``: train a 3D U-Net on the train split,
segment each test tomogram and turn the segmentation into particles.

Checkpoints go to ``--checkpoint-dir`` (default ``data/checkpoints/unet``); a run
with the same parameters and training data resumes from (or reuses) them.
Writes the submission (``tomo`` column) and ``<out stem>.timing.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.params_io import load_method_params
from baselines.training_data import PublicDataset, particle_voxel_counts, split_train_val
from baselines.torch_common import (Stopwatch, add_training_arguments, params_digest, seed_everything, setup_torch,
                                    source_digest, write_timing)
from baselines.unet.infer import predict_volume
from baselines.unet.model import count_parameters
from baselines.unet.params import UNetParams
from baselines.unet.postprocess import segmentation_to_particles, size_limits
from baselines.unet.train import train_unet
from tomobench.particles import write_particles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", help="params.yaml (section baselines.unet); defaults otherwise")
    parser.add_argument("--steps", type=int, help="override the number of training steps")
    parser.add_argument("--widths", help="override the widths, e.g. 32,48,64 (DeepFinder)")
    add_training_arguments(parser, "unet")


def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    widths = [int(w) for w in args.widths.split(",")] if getattr(args, "widths", None) else None
    params = load_method_params(UNetParams, "unet", args.params, {
        "steps": args.steps, "widths": widths, "seed": args.seed, "device": args.device,
        "threads": args.threads})
    device = setup_torch(params.threads, params.device)
    rng = seed_everything(params.seed)
    progress = not args.quiet
    data = PublicDataset(args.data)
    # both splits are checked before the long training starts
    train_folders, test_folders = data.train_folders(), data.test_folders()

    train_clock, infer_clock = Stopwatch(), Stopwatch()
    with train_clock:
        tomos = [data.load_train(f) for f in train_folders]
        tr, va = split_train_val([t.name for t in tomos], params.val_tomograms)
        digest = params_digest({"params": params.model_dump(), "code": source_digest(),
                                "train": [t.name for t in tomos],
                                "shapes": [t.volume.shape for t in tomos],
                                "sums": [float(np.round(np.abs(t.volume).sum(), 1)) for t in tomos],
                                "classes": data.target_names})
        checkpoint = Path(args.checkpoint_dir) / f"unet_{digest}.pt"
        if args.retrain:
            checkpoint.unlink(missing_ok=True)
        model, history = train_unet(
            [tomos[i].volume for i in tr], [tomos[i].target for i in tr], data.n_targets, params, rng,
            device=device, val_vols=[tomos[i].volume for i in va], val_targets=[tomos[i].target for i in va],
            checkpoint=checkpoint, digest=digest, progress=progress)
        lo, hi = size_limits(particle_voxel_counts(tomos), min_fraction=params.min_size_fraction,
                             max_factor=params.max_size_factor)
    picks, voxels = [], 0
    with infer_clock:
        for folder in test_folders:
            volume, _ = data.load_test(folder)
            voxels += volume.size
            labels, probs = predict_volume(model, volume, patch=params.infer_patch_vox,
                                           overlap=params.infer_overlap_vox, batch=params.infer_batch,
                                           device=device, progress=progress, return_probs=True)
            picks.append(segmentation_to_particles(labels, data.target_names, min_size=lo, max_size=hi,
                                                   probs=probs, connectivity=params.connectivity,
                                                   tomo=folder.name))
    df = pd.concat(picks, ignore_index=True)
    if df.empty:
        print("tomobench baseline unet: the segmentation holds no particle; the submission is empty",
              file=sys.stderr)
    write_particles(df, args.out)
    write_timing(args.out, "unet", wall_s=time.perf_counter() - t_start,
                 train_s=train_clock.seconds + history.get("resumed_seconds", 0.0),
                 infer_s=infer_clock.seconds, device=device, voxels=voxels,
                 train_s_resumed=round(history.get("resumed_seconds", 0.0), 3),
                 n_parameters=count_parameters(model), steps=params.steps,
                 best_val_dice=history.get("best_val_dice"))
    print(f"unet: {len(df)} picks in {len(test_folders)} test tomogram(s) -> {args.out} "
          f"(best validation Dice {history.get('best_val_dice'):.3f})", file=sys.stderr)
    return 0
