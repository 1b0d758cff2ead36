"""Why the DoG+CNN's classes are wrong: its classifier on the held-out training tomogram.

    PYTHONPATH=$PWD python benchmarks/cnn_diagnose.py --data data/public \
        --checkpoint data/checkpoints/cnn/cnn_<digest>.pt [--params params.yaml]

Loads the selected weights of a DoG+CNN checkpoint and classifies boxes of the held-out training
tomogram (the last, as training holds it out), where the truth is known, three ways:

1. boxes exactly at the true centres (the classifier alone: no candidate offsets);
2. boxes at the true centres shifted by ``jitter_fraction`` x the class radius in a random direction;
3. boxes at the DoG candidates that land in a scored particle (the strongest per particle), what the
   pipeline classifies; with the distance of each from its particle's centre (in class radii).

Each prints a confusion matrix (true x predicted, background column last) with the accuracy over
particle classes. If (1) is already wrong the classifier is what fails (training), not the offsets;
if (1) is right and (3) wrong, the offsets are. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from baselines.classifier.cli import CandidateFinder, truth_of
from baselines.classifier.extract import extract_subtomograms
from baselines.classifier.model import SubtomoCNN
from baselines.classifier.params import CNNParams
from baselines.classifier.picking import matched_candidates
from baselines.classifier.train import predict_logits
from baselines.params_io import load_method_params
from baselines.training_data import PublicDataset, particle_voxel_counts, target_radii_vox
from baselines.unet.peaks import hit_ids


def confusion(true: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """Counts (true target x predicted target), ``n`` targets including background 0."""
    conf = np.zeros((n, n), int)
    np.add.at(conf, (np.asarray(true, int), np.asarray(pred, int)), 1)
    return conf


def print_confusion(conf: np.ndarray, names: list[str], title: str) -> None:
    """Rows 1..K (particle classes), columns 1..K then background; accuracy over the particle rows."""
    n = len(names)
    rows = conf[1:]
    acc = np.trace(conf[1:, 1:]) / max(1, rows.sum())
    print(f"\n{title}: accuracy {acc:.3f} ({rows.sum()} particles)")
    print(f"{'true / predicted':>26s} " + " ".join(f"{i:>3d}" for i in range(1, n)) + "  bg")
    for i in range(1, n):
        print(f"{i:2d} {names[i]:>23s} " + " ".join(f"{conf[i, j]:3d}" for j in range(1, n)) + f" {conf[i, 0]:3d}")


def load_model(checkpoint: Path, n_classes: int, params: CNNParams) -> SubtomoCNN:
    """The selected (best-epoch, batch norm recalibrated) weights of a CNN checkpoint."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = SubtomoCNN(n_classes, params.width, params.hidden, params.dropout)
    model.load_state_dict(state["best_state"] or state["model"])
    model.eval()
    return model


def main() -> None:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--params", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = load_method_params(CNNParams, "cnn", args.params, {})
    data = PublicDataset(args.data)
    tomos = [data.load_train(f) for f in data.train_folders()]
    held = tomos[-1]
    n, names = data.n_targets, data.target_names
    radii = target_radii_vox(data, held.voxel_size_a, particle_voxel_counts(tomos))
    model = load_model(args.checkpoint, n, params)
    xyz = held.particles[["x", "y", "z"]].to_numpy(float)
    target = held.particles["target"].to_numpy(int)

    def classify(centres: np.ndarray) -> np.ndarray:
        return predict_logits(model, extract_subtomograms(held.volume, centres, params.box_vox)).argmax(1)

    print_confusion(confusion(target, classify(xyz), n), names, f"{held.name}: boxes at the true centres")
    rng = np.random.default_rng(args.seed)
    d = rng.normal(size=xyz.shape)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    shifted = xyz + d * (params.jitter_fraction * radii[target])[:, None]
    print_confusion(confusion(target, classify(shifted), n), names,
                    f"{held.name}: boxes {params.jitter_fraction} x the class radius off the true centres")
    finder = CandidateFinder(params, data, tomos)
    cand = finder(held.volume)
    truth = truth_of(held)
    label = matched_candidates(cand, truth)
    pid = hit_ids(cand, truth.occupancy)
    _, first = np.unique(pid[label > 0], return_index=True)
    chosen = np.flatnonzero(label > 0)[first]
    print_confusion(confusion(label[chosen], classify(cand[chosen]), n), names,
                    f"{held.name}: the strongest DoG candidate on each found particle ({len(cand)} candidates)")
    centre = dict(zip(held.particles["id"], xyz))
    offset = np.array([np.linalg.norm(cand[i] - centre[pid[i]]) / radii[label[i]] for i in chosen])
    for c in range(1, n):
        o = offset[label[chosen] == c]
        if len(o):
            print(f"  {names[c]:>24s}: {len(o):2d} found, offset median {np.median(o):.2f} x radius "
                  f"({radii[c]:.1f} vox), max {o.max():.2f}")


if __name__ == "__main__":
    main()
