"""Training and applying the subtomogram classifier."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from baselines.classifier.extract import random_flips
from baselines.classifier.model import SubtomoCNN
from baselines.torch_common import load_checkpoint, restore_rng, rng_state, save_checkpoint


def standardise(x: np.ndarray) -> np.ndarray:
    """Each subtomogram to zero mean and unit std (a constant one to zeros)."""
    x = np.asarray(x, dtype=np.float32)
    axes = tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return ((x - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over the classes present in ``y_true`` of the fraction of their samples predicted right."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in np.unique(y_true)]))


@torch.no_grad()
def recalibrate_batchnorm(model: SubtomoCNN, xs: np.ndarray, *, batch: int = 64,
                          device: torch.device | str = "cpu") -> None:
    """Recompute batch-norm running statistics as exact averages over ``xs`` (standardised already).

    After short trainings the exponential running averages lag behind the weights, and evaluation-mode
    predictions disagree with training-mode ones; this makes them agree.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or not len(xs):
        return
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for i in range(0, len(xs), batch):
        model.features(torch.from_numpy(xs[i:i + batch, None]).to(device))
    for m, mom in zip(bns, saved):
        m.momentum = mom
    model.eval()


@torch.no_grad()
def predict_logits(model: SubtomoCNN, x: np.ndarray, *, batch: int = 64,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """Pre-softmax outputs ``(N, n_classes)`` for subtomograms ``(N, s, s, s)`` (standardised here)."""
    model.eval()
    x = standardise(x)
    out = [model(torch.from_numpy(x[i:i + batch, None]).to(device)).float().cpu().numpy()
           for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.n_classes), np.float32)


def train_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, rng: np.random.Generator, *,
                     width: int = 16, hidden: int = 128, dropout: float = 0.3, epochs: int = 15,
                     batch_size: int = 32, learning_rate: float = 1e-3, device: torch.device | str = "cpu",
                     x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
                     checkpoint: str | Path | None = None, digest: str | None = None,
                     validate: Callable[[SubtomoCNN], float] | None = None,
                     observe: Callable[[int, SubtomoCNN], None] | None = None,
                     progress: bool = True, desc: str = "train cnn") -> tuple[SubtomoCNN, dict]:
    """Train the classifier on labelled subtomograms.

    One function on purpose: the epoch loop, its model selection and its checkpoints share state
    that a split would only pass back and forth.

    Train on subtomograms ``x`` (N, s, s, s) with integer labels ``y`` (Adam, cross-entropy, random flips,
    classes weighted by inverse frequency). With validation data the epoch with the best balanced
    accuracy (mean recall over the classes present) is kept; with ``validate`` (the model, batch-norm
    statistics recalibrated, in eval mode -> a score, higher is better) the epoch it scores best.
    ``observe(epoch, model)`` is called after every epoch with the model in eval mode, batch-norm
    statistics recalibrated (a learning curve; it does not select the model, and the training
    trajectory is the same with or without it: the statistics do not enter training-mode passes).
    Checkpoints after every epoch and resumes when ``digest`` matches.
    """
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val go together: give both or neither")
    device = torch.device(device)
    model = SubtomoCNN(n_classes, width, hidden, dropout).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=learning_rate)
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    weight = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0),
                          dtype=torch.float32, device=device)
    xs = standardise(x)
    history: dict[str, Any] = {"epoch": [], "loss": [], "val_accuracy": []}
    epoch, best, best_state = 0, -1.0, None
    state = load_checkpoint(checkpoint, digest) if checkpoint else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        epoch, best, best_state, history = state["epoch"], state["best"], state["best_state"], state["history"]
        restore_rng(rng, state["rng"])
    prior = float(history.get("seconds", 0.0))
    history["resumed_seconds"] = prior if state is not None else 0.0
    t0 = time.perf_counter()
    bar = tqdm(total=epochs, initial=epoch, desc=desc, unit="epoch", disable=not progress, leave=False)
    while epoch < epochs:
        model.train()
        order = rng.permutation(len(xs))
        losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            xb = torch.from_numpy(random_flips(xs[idx], rng)[:, None]).to(device)
            yb = torch.from_numpy(y[idx].astype(np.int64)).to(device)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb, weight=weight)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        epoch += 1
        history["epoch"].append(epoch)
        history["loss"].append(float(np.mean(losses)) if losses else float("nan"))
        acc = float("nan")
        if validate is not None:
            recalibrate_batchnorm(model, xs, device=device)
            acc = float(validate(model))
        elif x_val is not None and y_val is not None and len(x_val):
            recalibrate_batchnorm(model, xs, device=device)
            acc = balanced_accuracy(y_val, predict_logits(model, x_val, device=device).argmax(1))
        history["val_accuracy"].append(acc)
        if observe is not None:
            recalibrate_batchnorm(model, xs, device=device)
            observe(epoch, model)
        judged = validate is not None or (x_val is not None and len(x_val))
        if not judged or acc > best:
            best = acc if np.isfinite(acc) else best
            best_state = copy.deepcopy(model.state_dict())
        bar.update(1)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val_acc=f"{acc:.3f}")
        history["seconds"] = prior + time.perf_counter() - t0
        if checkpoint:
            save_checkpoint(checkpoint, {"digest": digest, "model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "epoch": epoch, "best": best, "best_state": best_state,
                                         "history": history, "rng": rng_state(rng)})
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    if not (validate is not None or (x_val is not None and len(x_val))):
        recalibrate_batchnorm(model, xs, device=device)
    history["best_val_accuracy"] = best if best >= 0 else float("nan")
    model.eval()
    return model, history
