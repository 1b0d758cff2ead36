"""The subtomogram classification task of Xu et al. (2017), scaled down.

For each (SNR, tilt range) of a grid, a dataset of single-particle subtomograms
is simulated from the public structure library (``PUBLIC/structures``:
``classes.csv`` + ``<class>.mrc`` templates) plus empty ones, split into train
and test halves; a CNN is trained on one half and scored on the other
(accuracy, per-class F1, confusion matrix), and its pre-softmax outputs are
clustered with k-means to measure cluster purity (the paper's Section 2.3).

Simulation of one subtomogram (all in one Fourier transform):
the template is turned by a uniformly random rotation (``tomobench.rotate``),
shifted by a random sub-voxel translation of at most ``max_shift_vox`` per axis
(a phase ramp), white Gaussian noise is added, and only the Fourier
coefficients a single-axis tilt series samples are kept: tilt axis y, beam
along z, so the kept region is ``|k_z| <= |k_x| tan(tilt_max)`` (the missing
wedge lies around ``k_z``), the DC term included. Noise passes the same mask, as
it does in a reconstruction. **SNR** = variance of the masked noise-free
particle / variance of the masked noise, with the signal variance the mean
over the classes of the dataset's noise-free masked particles: one noise level
per dataset (as one dose per acquisition), empty boxes included. Unlike the
paper there is no CTF or MTF (documented simplification).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from baselines.classifier.metrics import accuracy, confusion_matrix, kmeans_purity, per_class_f1
from baselines.classifier.params import CNNParams, SubtomoTaskParams
from baselines.classifier.train import predict_logits, train_classifier
from baselines.template_matching.templates import wedge_mask as template_wedge_mask
from tomobench.classes import read_classes
from tomobench.errors import InputError
from tomobench.euler import random_rotations
from tomobench.rotate import rotate_volume
from tomobench.volumes import read_volume

EMPTY = "empty"


def load_templates(structures_dir: str | Path, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Scored protein templates of a structure library folder (``classes.csv`` + ``<class>.mrc``)."""
    folder = Path(structures_dir)
    table = read_classes(folder / "classes.csv")
    wanted = names or [n for n in table.scored_names if (folder / f"{n}.mrc").is_file()]
    out = {}
    for name in wanted:
        path = folder / f"{name}.mrc"
        if not path.is_file():
            raise InputError(f"no template {name}.mrc for class {name!r}", folder)
        out[name] = read_volume(path)[0].astype(np.float32)
    if len(out) < 1:
        raise InputError("the structure library holds no template of a scored class", folder)
    return out


def wedge_mask(box: int, tilt_max_deg: float) -> np.ndarray:
    """Missing-wedge mask of a single-axis tilt series, full FFT layout.

    Boolean ``[z, y, x]`` mask in numpy (full) FFT order: True where a tilt series about y with tilts
    up to ``±tilt_max_deg`` samples Fourier space (``|k_z| <= |k_x| tan(tilt_max)``; DC kept).

    The missing wedge of template matching (:func:`~baselines.template_matching.templates.wedge_mask`,
    rfftn layout), extended to the negative ``k_x`` it leaves out: for a symmetric tilt range about y
    the mask depends on ``|k_x|`` only.
    """
    half = template_wedge_mask((box,) * 3, -tilt_max_deg, tilt_max_deg) > 0
    j = np.arange(box)
    return half[:, :, np.minimum(j, box - j)]


def _shift_ramp(box: int, shift_zyx: np.ndarray) -> np.ndarray:
    k = np.fft.fftfreq(box)
    kz, ky, kx = np.meshgrid(k, k, k, indexing="ij")
    return np.exp(-2j * np.pi * (kz * shift_zyx[0] + ky * shift_zyx[1] + kx * shift_zyx[2]))


def simulate_subtomograms(templates: dict[str, np.ndarray], n_per_class: int, snr: float, tilt_max_deg: float,
                          box: int, rng: np.random.Generator, *, max_shift_vox: float = 2.0,
                          include_empty: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Simulated subtomograms ``(N, box, box, box)``, labels ``(N,)`` and the class names (``empty`` last)."""
    if snr <= 0:
        raise ValueError("snr must be > 0")
    names = list(templates) + ([EMPTY] if include_empty else [])
    mask = wedge_mask(box, tilt_max_deg)
    xs = np.zeros((len(names) * n_per_class, box, box, box), np.float32)
    ys = np.repeat(np.arange(len(names)), n_per_class)
    rotations = random_rotations(len(xs), rng)
    variances: dict[int, list[float]] = {}
    for i, label in enumerate(ys):  # pass 1: the noise-free, shifted, wedge-masked particles
        if names[label] != EMPTY:
            vol = rotate_volume(templates[names[label]], rotations[i], order=1, output_shape=(box,) * 3)
            ft = np.fft.fftn(vol) * _shift_ramp(box, rng.uniform(-max_shift_vox, max_shift_vox, 3))
            xs[i] = np.real(np.fft.ifftn(ft * mask))
            variances.setdefault(int(label), []).append(float(xs[i].var()))
    signal_var = float(np.mean([np.mean(v) for v in variances.values()]))
    kept = float(mask.mean())  # unit white noise keeps this variance after masking
    sigma = np.sqrt(signal_var / snr / kept)
    for i in range(len(xs)):  # pass 2: the same noise level in every box
        xs[i] += np.real(np.fft.ifftn(np.fft.fftn(rng.normal(0.0, sigma, (box,) * 3)) * mask))
    return xs, ys, names


def halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of ``range(n)`` into two halves (train, test)."""
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def run_cell(templates: dict[str, np.ndarray], snr: float, tilt_max_deg: float, task: SubtomoTaskParams,
             cnn: CNNParams, rng: np.random.Generator, *, device="cpu", progress: bool = False) -> dict:
    """One dataset of the grid: simulate, train on one half, score the other half."""
    x, y, names = simulate_subtomograms(templates, task.n_per_class, snr, tilt_max_deg, task.box_vox, rng,
                                        max_shift_vox=task.max_shift_vox, include_empty=task.include_empty)
    tr, te = halves(len(x), rng)
    model, _ = train_classifier(x[tr], y[tr], len(names), rng, width=cnn.width, hidden=cnn.hidden,
                                dropout=cnn.dropout, epochs=cnn.epochs, batch_size=cnn.batch_size,
                                learning_rate=cnn.learning_rate, device=device, progress=progress,
                                desc=f"snr {snr:g} ±{tilt_max_deg:g}°")
    logits = predict_logits(model, x[te], device=device)
    pred = logits.argmax(1)
    conf = confusion_matrix(y[te], pred, len(names))
    purity, _ = kmeans_purity(logits, y[te], task.kmeans_k or len(names), seed=task.seed)
    return {"snr": snr, "tilt_max_deg": tilt_max_deg, "accuracy": accuracy(y[te], pred),
            "per_class_f1": dict(zip(names, per_class_f1(conf).round(4).tolist())),
            "confusion": {"classes": names, "counts": conf.tolist()}, "kmeans_purity": purity,
            "n_train": int(len(tr)), "n_test": int(len(te))}


def run_task(structures_dir: str | Path, task: SubtomoTaskParams, cnn: CNNParams, *, device="cpu",
             progress: bool = True) -> dict:
    """The whole grid; cell (i, j) is seeded with ``SeedSequence([seed, i, j])``."""
    templates = load_templates(structures_dir, task.classes)
    cells = []
    grid = [(i, j, s, t) for i, s in enumerate(task.snrs) for j, t in enumerate(task.tilt_max_deg)]
    for i, j, snr, tilt in tqdm(grid, desc="subtomogram task", unit="dataset", disable=not progress):
        rng = np.random.default_rng(np.random.SeedSequence([task.seed, i, j]))
        cells.append(run_cell(templates, snr, tilt, task, cnn, rng, device=device, progress=progress))
    return {"classes": list(templates) + ([EMPTY] if task.include_empty else []),
            "params": task.model_dump(), "cnn": cnn.model_dump(), "cells": cells}


def format_table2(result: dict, key: str = "accuracy") -> str:
    """The accuracy (or ``kmeans_purity``) grid in the layout of Xu et al. (2017) Table 2."""
    snrs = list(dict.fromkeys(c["snr"] for c in result["cells"]))
    tilts = list(dict.fromkeys(c["tilt_max_deg"] for c in result["cells"]))
    value = {(c["snr"], c["tilt_max_deg"]): c[key] for c in result["cells"]}
    head = "SNR / Tilt angle range" + "".join(f"{'±%g°' % t:>12}" for t in tilts)
    lines = [head, " " * 22 + "".join(f"{'CNN':>12}" for _ in tilts)]
    for s in snrs:
        lines.append(f"{s:<22g}" + "".join(f"{value.get((s, t), float('nan')):>12.3f}" for t in tilts))
    n = len(result["classes"])
    lines.append(f"({key}; {n} classes incl. empty; {result['params']['n_per_class']} subtomograms per class, "
                 f"half for training; box {result['params']['box_vox']}^3)")
    return "\n".join(lines)
