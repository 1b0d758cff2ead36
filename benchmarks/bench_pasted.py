"""Are pasted template boxes like the real particles? The measured transfer and per-class box statistics.

    PYTHONPATH=$PWD python benchmarks/bench_pasted.py --data data/public [--box 24] [--radius 6]

For the training tomograms of a public folder (all of them, the held-out one included, since
nothing is trained here): the radial transfer from the templates at their true poses to the
reconstructions (``baselines.pasted.radial_transfer``), printed per shell; then, per
class, the mean and variance within ``--radius`` voxels of the box centre of (a) boxes at the real
particles and (b) as many pasted boxes of that class (the template turned at random, imaged by the
transfer, at a real particle's place less that particle's own image, no shift). Figures are
printed, never asserted.

``--gap``: can a CNN tell pasted boxes from real ones? A two-class ``SubtomoCNN`` (8 epochs) learns
real particle boxes against as many pasted boxes on all training tomograms but the last and is
scored on the last (chance: 0.5), for two backgrounds: the particle's own image removed (the
neighbours kept, what ``pasted_training_set`` uses) and every particle removed
(``particles_removed``, what the U-Net's ``reposed_copies`` start from).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from baselines.classifier.extract import extract_subtomograms
from baselines.pasted import pasted_training_set
from baselines.training_data import PublicDataset


def central_statistics(boxes: np.ndarray, radius_vox: float) -> tuple[float, float]:
    """Mean over the boxes of the mean and of the variance of the voxels within ``radius_vox`` of the centre."""
    size = boxes.shape[1]
    z, y, x = np.ogrid[:size, :size, :size]
    c = size // 2
    inside = (z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2 <= radius_vox ** 2
    values = boxes[:, inside]
    return float(values.mean(axis=1).mean()), float(values.var(axis=1).mean())


def gap_accuracy(data: PublicDataset, tomos: list, templates: dict, seed: int, box: int) -> dict[str, float]:
    """Held-out accuracy of a real-versus-pasted classifier, per background kind (``--gap``)."""
    import torch

    from baselines.classifier.train import predict_logits, train_classifier
    from baselines.pasted import (
        box_transfer,
        own_particle_removed,
        particle_model,
        particles_removed,
        pasted_boxes,
        radial_transfer,
    )

    wedge = data.tilt_range("train", tomos[0].name)
    fit, held = tomos[:-1], tomos[-1:]
    transfer = radial_transfer([t.volume for t in fit], [particle_model(t.volume.shape, t.particles, templates)
                                                         for t in fit], **wedge)
    transfer_box = box_transfer(2 * box, transfer, **wedge)
    by_target = {i: templates[n] for i, n in enumerate(data.target_names) if i and n in templates}

    def backgrounds(t, kind: str) -> np.ndarray:
        if kind == "own":
            return own_particle_removed(t.volume, t.particles, templates, transfer_box, box)
        residual = particles_removed(t.volume, particle_model(t.volume.shape, t.particles, templates), transfer,
                                     **wedge)
        return extract_subtomograms(residual, t.particles[["x", "y", "z"]].to_numpy(float), box)

    def labelled(ts, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        real = np.concatenate([extract_subtomograms(t.volume, t.particles[["x", "y", "z"]].to_numpy(float), box)
                               for t in ts])
        pasted, _ = pasted_boxes(by_target, transfer_box, np.concatenate([backgrounds(t, kind) for t in ts]),
                                 -(-len(real) // len(by_target)), {}, rng)
        return np.concatenate([real, pasted[:len(real)]]), np.r_[np.zeros(len(real), int), np.ones(len(real), int)]

    out = {}
    for kind in ("own", "all"):
        torch.manual_seed(seed)
        x, y = labelled(fit, kind, np.random.default_rng(seed))
        x_held, y_held = labelled(held, kind, np.random.default_rng(seed + 1))
        model, _ = train_classifier(x, y, 2, np.random.default_rng(seed), epochs=8, progress=False)
        out[kind] = float((predict_logits(model, x_held).argmax(1) == y_held).mean())
    return out


def main() -> None:
    """Print the transfer curve and the real-versus-pasted table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="a public dataset folder")
    ap.add_argument("--box", type=int, default=24)
    ap.add_argument("--radius", type=float, default=6.0, help="voxels from the centre the statistics cover")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap", action="store_true", help="also train real-versus-pasted classifiers (minutes)")
    args = ap.parse_args()
    data = PublicDataset(args.data)
    folders = data.train_folders()
    tomos = [data.load_train(f) for f in folders]
    templates = data.templates_at(tomos[0].voxel_size_a)
    target_of = {n: i for i, n in enumerate(data.target_names) if i and n in templates}
    counts = {i: int(sum((t.particles["target"] == i).sum() for t in tomos)) for i in target_of.values()}
    t0 = time.perf_counter()
    x, y, transfer = pasted_training_set(
        [t.volume for t in tomos], [t.particles for t in tomos], templates, target_of, box=args.box,
        n_per_class=max(counts.values()), max_shift_vox={}, rng=np.random.default_rng(args.seed),
        **data.tilt_range("train", tomos[0].name))
    print(f"{len(tomos)} training tomograms, {sum(counts.values())} particles; {len(x)} pasted boxes "
          f"of {args.box}^3 in {time.perf_counter() - t0:.1f} s")
    print("\ntransfer per shell (cycles/voxel at the shell centre: factor)")
    centres = (np.arange(len(transfer)) + 0.5) / (2 * len(transfer))
    print("  " + "  ".join(f"{k:.3f}:{v:+.3f}" for k, v in zip(centres, transfer)))
    print(f"\nwithin {args.radius:g} voxels of the box centre")
    print(f"{'class':>26s} {'n':>4s} {'real mean':>10s} {'pasted':>8s} {'real var':>9s} {'pasted':>8s}")
    for name, target in target_of.items():
        real = np.concatenate([extract_subtomograms(t.volume, t.particles.loc[t.particles["target"] == target,
                                                                                 ["x", "y", "z"]].to_numpy(float),
                                                    args.box) for t in tomos])
        pasted = x[y == target][:counts[target]]
        (rm, rv), (pm, pv) = central_statistics(real, args.radius), central_statistics(pasted, args.radius)
        print(f"{name:>26s} {counts[target]:4d} {rm:10.3f} {pm:8.3f} {rv:9.3f} {pv:8.3f}")
    if args.gap:
        t0 = time.perf_counter()
        gap = gap_accuracy(data, tomos, templates, args.seed, args.box)
        print(f"\nreal versus pasted, held-out {tomos[-1].name} (chance 0.5; {time.perf_counter() - t0:.0f} s): "
              f"own particle removed (neighbours kept) {gap['own']:.3f}, every particle removed {gap['all']:.3f}")


if __name__ == "__main__":
    main()
