"""``tomobench baseline cnn --data PUBLIC --out SUBMISSION``: DoG candidates classified by a 3D CNN.

``--task subtomo`` runs the subtomogram classification task instead (Xu et al.
2017): ``--out`` is then a JSON report and the accuracy table is printed in the
layout of the paper's Table 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.classifier.candidates import contrast_polarity, dog_candidates
from baselines.classifier.extract import extract_subtomograms
from baselines.classifier.params import CNNParams, SubtomoTaskParams
from baselines.classifier.picking import picks_from_logits, training_set
from baselines.classifier.subtomo_task import format_table2, run_task
from baselines.classifier.train import predict_logits, train_classifier
from baselines.params_io import load_method_params
from baselines.training_data import PublicDataset, particle_voxel_counts, split_train_val
from baselines.torch_common import (Stopwatch, add_training_arguments, params_digest, seed_everything, setup_torch,
                                    source_digest, write_timing)
from baselines.unet.model import count_parameters
from tomobench.errors import InputError
from tomobench.particles import read_particles, write_particles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", help="params.yaml (sections baselines.cnn, baselines.cnn_subtomo)")
    parser.add_argument("--task", choices=["pick", "subtomo"], default="pick",
                        help="pick: DoG+CNN submission (default); subtomo: the subtomogram classification task")
    parser.add_argument("--candidates", help="candidate positions (any particle-list format, with a tomo column "
                                             "for several tomograms) instead of the local DoG step")
    parser.add_argument("--epochs", type=int, help="override the training epochs")
    add_training_arguments(parser, "cnn")


def run(args: argparse.Namespace) -> int:
    params = load_method_params(CNNParams, "cnn", args.params, {
        "epochs": args.epochs, "seed": args.seed, "device": args.device, "threads": args.threads})
    device = setup_torch(params.threads, params.device)
    if args.task == "subtomo":
        return _run_subtomo(args, params, device)
    return _run_pick(args, params, device)


def _run_subtomo(args, params: CNNParams, device) -> int:
    task = load_method_params(SubtomoTaskParams, "cnn_subtomo", args.params, {"seed": args.seed})
    structures = Path(args.data) / "structures"
    if not structures.is_dir():
        structures = Path(args.data)  # a structure library folder given directly
    seed_everything(task.seed)
    t0 = time.perf_counter()
    result = run_task(structures, task, params, device=device, progress=not args.quiet)
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(format_table2(result))
    print()
    print(format_table2(result, "kmeans_purity"))
    return 0


def _sigma(params: CNNParams, tomos) -> float:
    if params.dog_sigma_vox:
        return params.dog_sigma_vox
    counts = [c for v in particle_voxel_counts(tomos).values() for c in v]
    if not counts:
        return 2.0
    radius = (3 * float(np.median(counts)) / (4 * np.pi)) ** (1 / 3)
    return max(1.0, radius / np.sqrt(3))


def _run_pick(args, params: CNNParams, device) -> int:
    t_start = time.perf_counter()
    rng = seed_everything(params.seed)
    progress = not args.quiet
    data = PublicDataset(args.data)
    train_folders, test_folders = data.train_folders(), data.test_folders()
    given = _read_candidates(args.candidates, [f.name for f in test_folders]) if args.candidates else None
    train_clock, infer_clock = Stopwatch(), Stopwatch()
    with train_clock:
        tomos = [data.load_train(f) for f in train_folders]
        tr, va = split_train_val([t.name for t in tomos], params.val_tomograms)
        x, y = training_set([tomos[i] for i in tr], params.box_vox, params.background_ratio,
                            params.background_min_distance_vox, rng)
        xv, yv = training_set([tomos[i] for i in va], params.box_vox, params.background_ratio,
                              params.background_min_distance_vox, rng)
        if len(np.unique(y)) < 2:
            raise InputError("the train split gives fewer than two classes (particles + background) to learn",
                             data.folder / "train")
        digest = params_digest({"params": params.model_dump(), "code": source_digest(),
                                "train": [t.name for t in tomos],
                                "sums": [float(np.round(np.abs(t.volume).sum(), 1)) for t in tomos],
                                "classes": data.target_names})
        checkpoint = Path(args.checkpoint_dir) / f"cnn_{digest}.pt"
        if args.retrain:
            checkpoint.unlink(missing_ok=True)
        model, history = train_classifier(
            x, y, data.n_targets, rng, width=params.width, hidden=params.hidden, dropout=params.dropout,
            epochs=params.epochs, batch_size=params.batch_size, learning_rate=params.learning_rate, device=device,
            x_val=xv if len(xv) else None, y_val=yv if len(yv) else None, checkpoint=checkpoint, digest=digest,
            progress=progress)
        sigma = _sigma(params, tomos)
        polarity = float(np.sign(sum(contrast_polarity(t.volume, t.target) for t in tomos)) or 1.0)
    picks, voxels = [], 0
    with infer_clock:
        for folder in test_folders:
            volume, _ = data.load_test(folder)
            voxels += volume.size
            if given is not None:
                sub = given[given["tomo"].isin([folder.name, ""])]
                xyz = sub[["x", "y", "z"]].to_numpy(float)
            else:
                xyz, _ = dog_candidates(volume, sigma, ratio=params.dog_ratio, polarity=polarity,
                                        min_distance_vox=params.candidate_min_distance_vox,
                                        quantile=params.candidate_quantile, max_candidates=params.max_candidates)
            logits = predict_logits(model, extract_subtomograms(volume, xyz, params.box_vox), device=device)
            picks.append(picks_from_logits(xyz, logits, data.target_names, min_probability=params.min_probability,
                                           min_distance_vox=params.candidate_min_distance_vox, tomo=folder.name))
    df = pd.concat(picks, ignore_index=True)
    write_particles(df, args.out)
    write_timing(args.out, "cnn", wall_s=time.perf_counter() - t_start,
                 train_s=train_clock.seconds + history.get("resumed_seconds", 0.0),
                 infer_s=infer_clock.seconds, device=device, voxels=voxels,
                 train_s_resumed=round(history.get("resumed_seconds", 0.0), 3), n_parameters=count_parameters(model),
                 epochs=params.epochs, best_val_accuracy=history.get("best_val_accuracy"),
                 dog_sigma_vox=round(sigma, 3), n_train_subtomograms=int(len(x)))
    print(f"cnn: {len(df)} picks in {len(test_folders)} test tomogram(s) -> {args.out} "
          f"(best validation accuracy {history.get('best_val_accuracy'):.3f})", file=sys.stderr)
    return 0


def _read_candidates(path: str, test_names: list[str]) -> pd.DataFrame:
    df = read_particles(path)
    unknown = sorted(set(df["tomo"]) - set(test_names) - {""})
    if unknown:
        raise InputError(f"candidates name tomograms {unknown[:3]} that are not in test/", path)
    return df
