"""Why a trained U-Net localises but does not classify: measurements on its probability maps.

    PYTHONPATH=$PWD python benchmarks/learned_diagnose.py --data data/public --truth data/private/test \
        --checkpoint data/checkpoints/unet/unet_<digest>.pt --cache /tmp/diag

Loads the selected (EMA) weights of a U-Net checkpoint, segments the held-out training tomogram
(the last, as training holds it out) and the test tomogram(s) (with test-time augmentation unless
``--no-tta``; maps cached as float16 ``.npy`` in ``--cache``) and prints

1. the network's own classification: per true particle, the class with the largest mean probability
   over the particle's voxels (a confusion matrix; no peak picking or thresholds involved);
2. the peak picking with thresholds tuned on the held-out tomogram for each ``threshold_metric``
   (and with and without ``exclusive_peaks``): test localization F1, picks, per-class F1;
3. the confusion of the first pick on each found particle (the pipeline's classification).

Test truth is read from ``--truth/<tomo>`` (occupancy_mask.mrc, class_mask.mrc,
particle_locations.txt). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch

from baselines.training_data import PublicDataset, TrainTomogram, particle_voxel_counts, target_radii_vox
from baselines.unet.cli import truth_of
from baselines.unet.infer import predict_probs
from baselines.unet.model import UNet3D
from baselines.unet.peaks import Peaks, Truth, evaluate, find_peaks, hit_ids, tune_thresholds

GROUPS = ("small", "medium", "large")


def eval_view(public: Path, truth: Path, cache: Path) -> PublicDataset:
    """A public-like folder of symlinks whose train/ holds the held-out and the test tomograms with truth."""
    data = PublicDataset(public)
    root = cache / "view"
    held_out = data.train_folders()[-1]
    for src in [held_out] + [truth / f.name for f in data.test_folders()]:
        dst = root / "train" / src.name
        dst.mkdir(parents=True, exist_ok=True)
        recon = src / "reconstruction.mrc"
        if not recon.is_file():
            recon = public / "test" / src.name / "reconstruction.mrc"
        for f in [recon, src / "class_mask.mrc", src / "occupancy_mask.mrc", src / "particle_locations.txt"]:
            if not (dst / f.name).exists():
                os.symlink(f.resolve(), dst / f.name)
    if not (root / "classes.csv").exists():
        os.symlink((public / "classes.csv").resolve(), root / "classes.csv")
    return PublicDataset(root)


def probability_maps(checkpoint: Path, tomos: dict[str, TrainTomogram], cache: Path, tta: bool) -> dict:
    """Probability maps ``[C, z, y, x]`` of the checkpoint's selected weights per tomogram (cached)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model = UNet3D(state["n_classes"], tuple(state["widths"]), norm="batch")
    model.load_state_dict(state["best_state"] or state["model"])
    model.eval()
    out = {}
    for name, t in tomos.items():
        path = cache / f"{checkpoint.stem}_{name}_{'tta' if tta else 'notta'}.npy"
        if not path.is_file():
            p = predict_probs(model, t.volume, patch=64, overlap=16, batch=2, device=torch.device("cpu"), tta=tta,
                              amp=False, progress=False)
            np.save(path, p.numpy().astype(np.float16))
        out[name] = torch.from_numpy(np.load(path).astype(np.float32))
    return out


def own_classification(tomo: TrainTomogram, probs: torch.Tensor, n: int) -> np.ndarray:
    """Confusion (true target x predicted target) of the class of largest mean probability over each particle."""
    occ, p, conf = tomo.occupancy.ravel(), probs.numpy(), np.zeros((n, n), int)
    size = np.bincount(occ)
    # summed probability of each class over each particle id's voxels (one pass per class)
    sums = np.stack([np.bincount(occ, weights=p[c].ravel(), minlength=len(size)) for c in range(1, n)], axis=1)
    for pid, target in zip(tomo.particles["id"], tomo.particles["target"]):
        if pid < len(size) and size[pid] > 0:
            conf[target, int(sums[pid].argmax()) + 1] += 1
    return conf


def pick_confusion(peaks: Peaks, thresholds: np.ndarray, truth: Truth, n: int) -> np.ndarray:
    """Confusion (true x predicted target) of the first kept pick on each found scored particle."""
    kept = peaks.score >= thresholds[peaks.target]
    pid, pred = hit_ids(peaks.xyz[kept], truth.occupancy), peaks.target[kept]
    true = np.r_[truth.particle_target, 0][np.minimum(pid, len(truth.particle_target))]
    valid = (pid > 0) & (true > 0)
    _, first = np.unique(pid[valid], return_index=True)
    conf = np.zeros((n, n), int)
    np.add.at(conf, (true[valid][first], pred[valid][first]), 1)
    return conf


def print_confusion(conf: np.ndarray, names: list[str], title: str) -> None:
    """The confusion matrix with row totals and the accuracy (diagonal / total)."""
    n = len(names)
    print(f"\n{title}: accuracy {np.trace(conf[1:, 1:]) / max(1, conf[1:, 1:].sum()):.3f}")
    print(f"{'true / predicted':>26s} " + " ".join(f"{i:>3d}" for i in range(1, n)))
    for i in range(1, n):
        print(f"{i:2d} {names[i]:>23s} " + " ".join(f"{conf[i, j]:3d}" for j in range(1, n)) + f"  n={conf[i].sum()}")


def group_f1(f1: np.ndarray, groups: list[str]) -> str:
    """Mean per-class F1 of each size group, as SHREC's Table 4 groups them."""
    return "/".join(f"{np.mean([f for f, g in zip(f1[1:], groups) if g == s]):.3f}" for s in GROUPS)


def main() -> None:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--truth", required=True, type=Path, help="private test folder (one subfolder per tomogram)")
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--cache", required=True, type=Path)
    ap.add_argument("--no-tta", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--metrics", default="localization,both,class", help="threshold metrics to compare")
    ap.add_argument("--exclusive", default="true,false", help="exclusive_peaks settings to compare")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    data = eval_view(args.data, args.truth, args.cache)
    tomos = {f.name: data.load_train(f) for f in data.train_folders()}
    held_out = PublicDataset(args.data).train_folders()[-1].name
    tests = [k for k in tomos if k != held_out]
    n, names = data.n_targets, data.target_names
    groups = [dict(zip(data.classes.table["class_name"], data.classes.table["size_group"]))[c] for c in names[1:]]
    radii = target_radii_vox(data, tomos[held_out].voxel_size_a, particle_voxel_counts(list(tomos.values())))
    probs = probability_maps(args.checkpoint, tomos, args.cache, not args.no_tta)
    truths = {k: truth_of(t) for k, t in tomos.items()}
    for name in tests:
        print_confusion(own_classification(tomos[name], probs[name], n), names,
                        f"{name}: the network's own class (largest mean probability over each particle)")
    print("\nthresholds tuned on", held_out, "-> test:  metric  exclusive  held-out loc/class F1 | test loc F1, "
          "picks, mean class F1, small/medium/large")
    for exclusive in [e.strip().lower() == "true" for e in args.exclusive.split(",")]:
        kw = dict(nms_fraction=0.5, min_prob=0.05, smooth_sigma_vox=1.0, max_per_class=1000, exclusive=exclusive)
        pv = find_peaks(probs[held_out], radii, **kw)
        for metric in args.metrics.split(","):
            thr, rv = tune_thresholds(pv, truths[held_out], n, metric=metric)
            for name in tests:
                pt = find_peaks(probs[name], radii, **kw)
                rt = evaluate(pt, thr, truths[name])
                print(f"  {metric:>12s} {exclusive!s:>5s}  {rv['localization_f1']:.3f}/{rv['mean_class_f1']:.3f} | "
                      f"{rt['localization_f1']:.3f} {rt['n_picks']:5d} {rt['mean_class_f1']:.3f} "
                      f"{group_f1(rt['class_f1'], groups)}  per class "
                      + " ".join(f"{f:.2f}" for f in rt["class_f1"][1:]))
                if exclusive and metric in ("localization", "both"):
                    print_confusion(pick_confusion(pt, thr, truths[name], n), names,
                                    f"{name}: class of the first pick on each found particle ({metric})")


if __name__ == "__main__":
    main()
