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
from typing import Any

import numpy as np
import pandas as pd

from baselines.classifier.candidates import (
    contrast_polarity,
    dog_candidates,
    dog_grid_picks,
    group_sigmas_vox,
    multiscale_candidates,
    tune_dog_grid,
)
from baselines.classifier.extract import extract_subtomograms
from baselines.classifier.params import CNNParams, SubtomoTaskParams
from baselines.classifier.picking import assigned_peaks, classified_peaks, nms_by_class_radius, training_set
from baselines.classifier.subtomo_task import format_table2, run_task
from baselines.classifier.train import predict_logits, train_classifier
from baselines.dog import class_radii_vox
from baselines.params_io import load_method_params
from baselines.pasted import pasted_training_set
from baselines.torch_common import (
    Stopwatch,
    add_training_arguments,
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
from baselines.unet.model import count_parameters
from baselines.unet.peaks import Peaks, Truth, tune_thresholds
from tomobench.errors import InputError
from tomobench.particles import make_particles, read_particles, write_particles


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``tomobench baseline cnn`` to ``parser``."""
    parser.add_argument("--params", help="params.yaml (sections baselines.cnn, baselines.cnn_subtomo)")
    parser.add_argument("--task", choices=["pick", "subtomo"], default="pick",
                        help="pick: DoG+CNN submission (default); subtomo: the subtomogram classification task")
    parser.add_argument("--candidates", help="candidate positions (any particle-list format, with a tomo column "
                                             "for several tomograms) instead of the local DoG step")
    parser.add_argument("--epochs", type=int, help="override the training epochs")
    add_training_arguments(parser, "cnn")


def run(args: argparse.Namespace) -> int:
    """Run the DoG+CNN baseline (``--task pick``) or the subtomogram task; returns the exit code."""
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


class CandidateFinder:
    """The local candidate step of one run and how classified candidates become peaks.

    ``candidate_source: dog_grid``: the DoG baseline's picks, ``(sigma, t)`` from its grid search on the
    training tomograms with truth; the CNN assigns each a particle class and a score (1 - P(background)),
    and only the NMS at the class radius (``dog_grid_nms``) and the tuned thresholds reject
    (:func:`~baselines.classifier.picking.assigned_peaks`).
    ``multiscale``: one DoG scale (``dog_sigma_vox``) or one per size group; the CNN also rejects by
    classifying a candidate as background (:func:`~baselines.classifier.picking.classified_peaks`).
    """

    def __init__(self, params: CNNParams, data: PublicDataset, tomos: list[TrainTomogram]):
        self.params = params
        radii = class_radii_vox(data.classes, tomos[0].voxel_size_a)
        groups = dict(zip(data.classes.table["class_name"], data.classes.table["size_group"].fillna("")))
        self.polarity = float(np.sign(sum(contrast_polarity(t.volume, t.target) for t in tomos)) or 1.0)
        self.typical_radius = float(np.median(list(radii.values()))) if radii else 2.0 * np.sqrt(3)
        self.grid_f1 = float("nan")
        with_truth = [t for t in tomos if t.occupancy is not None]
        if params.candidate_source == "dog_grid" and with_truth:
            base = self.typical_radius / np.sqrt(3)
            sigma, self.t, self.grid_f1 = tune_dog_grid(
                [t.volume for t in with_truth], [truth_of(t) for t in with_truth],
                [base * f for f in params.dog_grid_sigma_factors], params.dog_grid_t, ratio=params.dog_grid_ratio,
                polarity=self.polarity, min_distance_vox=self.min_distance_vox)
            self.sigmas = [sigma]
        elif params.candidate_source == "dog_grid":
            raise InputError("candidate_source dog_grid needs training tomograms with occupancy_mask.mrc",
                             data.folder / "train")
        else:
            self.sigmas = [params.dog_sigma_vox] if params.dog_sigma_vox else group_sigmas_vox(radii, groups) or [2.0]

    def min_distance_vox(self, sigma: float) -> float:
        """Peak distance of the DoG baseline at scale ``sigma``: ``max(sqrt(3) sigma, median radius)``."""
        return max(np.sqrt(3) * sigma, self.typical_radius)

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        """Candidates of one tomogram.

        Parameters
        ----------
        volume : np.ndarray
            The reconstruction, shape ``(z, y, x)``.

        Returns
        -------
        np.ndarray
            Candidate centres, shape ``(N, 3)``: x, y, z in voxels.
        """
        p = self.params
        if p.candidate_source == "dog_grid":
            xyz, _ = dog_grid_picks(volume, self.sigmas[0], self.t, ratio=p.dog_grid_ratio, polarity=self.polarity,
                                    min_distance_vox=self.min_distance_vox(self.sigmas[0]))
        elif len(self.sigmas) == 1:
            xyz, _ = dog_candidates(volume, self.sigmas[0], ratio=p.dog_ratio, polarity=self.polarity,
                                    min_distance_vox=p.candidate_min_distance_vox, quantile=p.candidate_quantile,
                                    max_candidates=p.max_candidates)
        else:
            xyz, _ = multiscale_candidates(volume, self.sigmas, ratio=p.dog_ratio, polarity=self.polarity,
                                           quantile=p.candidate_quantile, max_candidates=p.max_candidates)
        return xyz

    def grid_info(self) -> dict[str, float]:
        """The dog_grid threshold and its training-split F1 for the timing file (empty otherwise)."""
        if self.params.candidate_source != "dog_grid":
            return {}
        return {"dog_grid_t": self.t, "dog_grid_train_f1": round(self.grid_f1, 4)}

    def peaks(self, xyz: np.ndarray, logits: np.ndarray, nms_vox: np.ndarray) -> Peaks:
        """Classified candidates as peaks (see the class docstring), by decreasing score."""
        if self.params.candidate_source == "dog_grid":
            peaks = assigned_peaks(xyz, logits)
            # the DoG peaks are only ~ the median radius apart: several land on one large particle
            return peaks.select(nms_by_class_radius(peaks.xyz, peaks.target, nms_vox)) if self.params.dog_grid_nms \
                else peaks
        return classified_peaks(xyz, logits, nms_vox)

    @property
    def floor(self) -> float:
        """Lowest threshold: 0 for dog_grid (every DoG pick may stay), else ``min_probability``."""
        return 0.0 if self.params.candidate_source == "dog_grid" else self.params.min_probability


def truth_of(tomo: TrainTomogram) -> Truth:
    """The ground truth of a training tomogram that has an occupancy map."""
    assert tomo.occupancy is not None
    return Truth.from_particles(tomo.occupancy, tomo.particles["id"].to_numpy(), tomo.particles["target"].to_numpy())


def _pick_validator(model_device, volume: np.ndarray, xyz: np.ndarray, truth: Truth, params: CNNParams,
                    finder: CandidateFinder, nms_vox: np.ndarray, n_targets: int):
    """Held-out localization (or class) F1 of the classified candidates, thresholds tuned there."""
    boxes = extract_subtomograms(volume, xyz, params.box_vox)

    def validate(model) -> float:
        peaks = finder.peaks(xyz, predict_logits(model, boxes, device=model_device), nms_vox)
        _, r = tune_thresholds(peaks, truth, n_targets, metric=params.threshold_metric, floor=finder.floor)
        return {"localization": r["localization_f1"], "class": r["mean_class_f1"]}.get(
            params.threshold_metric, 0.5 * (r["localization_f1"] + r["mean_class_f1"]))
    return validate, boxes


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
        finder = CandidateFinder(params, data, tomos)
        radii = target_radii_vox(data, tomos[0].voxel_size_a, particle_voxel_counts(tomos))
        model, thresholds, info = _train_pick(args, params, data, tomos, finder=finder, radii=radii,
                                                device=device, rng=rng, progress=progress)
    picks, voxels = [], 0
    with infer_clock:
        for folder in test_folders:
            volume, _ = data.load_test(folder)
            voxels += volume.size
            if given is not None:
                xyz = given[given["tomo"].isin([folder.name, ""])][["x", "y", "z"]].to_numpy(float)
            else:
                xyz = finder(volume)
            logits = predict_logits(model, extract_subtomograms(volume, xyz, params.box_vox), device=device)
            peaks = finder.peaks(xyz, logits, params.nms_radius_fraction * radii)
            peaks = peaks.select(peaks.score >= np.maximum(thresholds[peaks.target], finder.floor))
            picks.append(make_particles([data.target_names[c] for c in peaks.target], peaks.xyz, score=peaks.score,
                                        tomo=folder.name))
    df = pd.concat(picks, ignore_index=True)
    write_particles(df, args.out)
    write_timing(args.out, "cnn", wall_s=time.perf_counter() - t_start,
                 train_s=train_clock.seconds + info.pop("resumed_seconds"), infer_s=infer_clock.seconds,
                 device=device, voxels=voxels, n_parameters=count_parameters(model), epochs=params.epochs,
                 dog_sigmas_vox=[round(s, 3) for s in finder.sigmas], candidate_source=params.candidate_source,
                 **finder.grid_info(), **info)
    print(f"cnn: {len(df)} picks in {len(test_folders)} test tomogram(s) -> {args.out} "
          f"(best validation score {info.get('best_val_score', float('nan')):.3f})", file=sys.stderr)
    return 0


def _train_pick(args, params: CNNParams, data: PublicDataset, tomos: list[TrainTomogram], *, finder: CandidateFinder,
                radii: np.ndarray, device, rng: np.random.Generator, progress: bool):
    """Training set from the train tomograms, model selection and thresholds on the held-out one."""
    tr, va = split_train_val([t.name for t in tomos], params.val_tomograms)
    box = params.box_vox
    jit: dict[str, Any] = dict(jitter_fraction=params.jitter_fraction, copies=params.jitter_copies)
    x, y = training_set([tomos[i] for i in tr], [finder(tomos[i].volume) for i in tr], box, radii, **jit,
                        background_ratio=params.background_ratio, min_distance=params.background_min_distance_vox,
                        rng=rng)
    if params.pasted_per_class:
        xp, yp = _pasted_set(params, data, [tomos[i] for i in tr], radii, rng)
        x, y = np.concatenate([x, xp]), np.concatenate([y, yp])
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
    nms_vox = params.nms_radius_fraction * radii
    validate, truth, val_xyz = None, None, None
    v = tomos[va[0]] if va else None
    if v is not None and v.occupancy is not None:
        truth = truth_of(v)
        val_xyz = finder(v.volume)
        validate, val_boxes = _pick_validator(device, v.volume, val_xyz, truth, params, finder, nms_vox,
                                              data.n_targets)
    model, history = train_classifier(
        x, y, data.n_targets, rng, width=params.width, hidden=params.hidden, dropout=params.dropout,
        epochs=params.epochs, batch_size=params.batch_size, learning_rate=params.learning_rate, device=device,
        checkpoint=checkpoint, digest=digest, validate=validate, progress=progress)
    thresholds = np.full(data.n_targets, params.min_probability)
    info = {"resumed_seconds": history.get("resumed_seconds", 0.0),
            "train_s_resumed": history.get("resumed_seconds", 0.0),
            "best_val_score": history.get("best_val_accuracy"), "n_train_subtomograms": int(len(x)),
            "val_curve": list(zip(history["epoch"], history["val_accuracy"]))}
    if truth is not None and val_xyz is not None:   # set together above
        peaks = finder.peaks(val_xyz, predict_logits(model, val_boxes, device=device), nms_vox)
        thresholds, r = tune_thresholds(peaks, truth, data.n_targets, metric=params.threshold_metric,
                                        floor=finder.floor)
        info.update(val_localization_f1=r["localization_f1"], val_mean_class_f1=r["mean_class_f1"],
                    n_val_candidates=int(len(val_xyz)),
                    thresholds={n: float(t) for n, t in zip(data.target_names[1:], thresholds[1:])})
    return model, thresholds, info


def _pasted_set(params: CNNParams, data: PublicDataset, tomos: list[TrainTomogram], radii: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``pasted_per_class`` template boxes per class with a template (baselines.pasted)."""
    templates = data.templates_at(tomos[0].voxel_size_a)
    target_of = {n: i for i, n in enumerate(data.target_names) if i and n in templates}
    shifts = {i: params.jitter_fraction * radii[i] for i in target_of.values()}
    x, y, _ = pasted_training_set([t.volume for t in tomos], [t.particles for t in tomos], templates, target_of,
                                  box=params.box_vox, n_per_class=params.pasted_per_class, max_shift_vox=shifts,
                                  rng=rng, **data.tilt_range("train", tomos[0].name))
    return x, y


def _read_candidates(path: str, test_names: list[str]) -> pd.DataFrame:
    df = read_particles(path)
    unknown = sorted(set(df["tomo"]) - set(test_names) - {""})
    if unknown:
        raise InputError(f"candidates name tomograms {unknown[:3]} that are not in test/", path)
    return df
