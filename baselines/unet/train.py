"""Training of the 3D U-Net.

Class-balanced patches, Tversky + class-weighted cross-entropy, warm-up + cosine
learning rate, EMA of the weights, validation, checkpoints, resume.

Batches come from a :class:`torch.utils.data.DataLoader` over step indices (each batch a pure function
of ``(seed, step)``), with ``workers`` processes and pinned memory on CUDA; the loss is accumulated on
the device and read back only at validations (no host synchronisation per step). On CUDA the forward
pass runs under bf16 autocast when ``amp`` is set; the loss is computed in fp32.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from baselines.torch_common import autocast, load_checkpoint, restore_rng, rng_state, save_checkpoint
from baselines.unet.losses import class_weights, dice_scores, tversky_loss, weighted_cross_entropy
from baselines.unet.model import UNet3D
from baselines.unet.params import UNetParams
from baselines.unet.patches import PatchSampler
from baselines.unet.schedule import EMA, lr_factor

#: A validation: the (EMA) model in eval mode -> a score, higher is better.
Validator = Callable[[torch.nn.Module], float]


def build_model(n_classes: int, params: UNetParams) -> UNet3D:
    """A fresh U-Net with ``n_classes`` outputs and the widths and normalisation of ``params``."""
    return UNet3D(n_classes, tuple(params.widths), norm=params.norm)


class StepBatches(Dataset):
    """Map-style dataset: item ``step`` is the training batch of that step (``PatchSampler.batch``)."""

    def __init__(self, sampler: PatchSampler, batch_size: int):
        self.sampler, self.batch_size = sampler, batch_size

    def __len__(self) -> int:  # any step index is valid; the loader's sampler chooses them
        return 2 ** 62

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.sampler.batch(step, self.batch_size)
        return torch.from_numpy(x), torch.from_numpy(y)


def step_loader(sampler: PatchSampler, batch_size: int, start: int, stop: int, *, workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """The batches of steps ``start .. stop - 1`` in order (workers preserve the order)."""
    return DataLoader(StepBatches(sampler, batch_size), batch_size=None, sampler=range(start, stop),
                      num_workers=workers, pin_memory=pin_memory)


def patch_class_counts(sampler: PatchSampler, n_classes: int, *, n_batches: int = 16, batch_size: int = 4,
                       seed: int = 0) -> np.ndarray:
    """Voxel counts per class in ``n_batches`` sampled batches (the class frequencies training sees)."""
    counts = np.zeros(n_classes, np.int64)
    for i in range(n_batches):
        _, y = sampler.sample(batch_size, np.random.default_rng([seed, 1, i]))
        counts += np.bincount(y.ravel(), minlength=n_classes)[:n_classes]
    return counts


def loss_fn(params: UNetParams, weight: torch.Tensor | None = None):
    """Dice or Tversky loss (none for ``loss: ce``) plus ``ce_weight`` x (class-weighted) cross-entropy."""
    a, b = (0.5, 0.5) if params.loss == "dice" else (params.tversky_alpha, params.tversky_beta)

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        out = tversky_loss(logits, y, alpha=a, beta=b) if params.loss != "ce" else logits.sum() * 0.0
        if params.ce_weight > 0:
            ce = (weighted_cross_entropy(logits, y, weight) if weight is not None
                  else torch.nn.functional.cross_entropy(logits, y))
            out = out + params.ce_weight * ce
        return out
    return loss


def dice_validator(val_vols: list[np.ndarray], val_targets: list[np.ndarray], n_classes: int,
                   params: UNetParams, device: torch.device) -> Validator:
    """Mean hard Dice over the particle classes present in a fixed set of class-balanced patches."""
    sampler = PatchSampler(val_vols, val_targets, n_classes, params.patch_vox, np.random.default_rng(params.seed + 1))
    x, y = sampler.sample(params.val_patches, np.random.default_rng(params.seed + 1))

    @torch.no_grad()
    def validate(model: torch.nn.Module) -> float:
        with autocast(device, params.amp):
            pred = model(torch.from_numpy(x).to(device)).argmax(1).cpu()
        d = dice_scores(pred, torch.from_numpy(y), n_classes)[1:]
        d = d[~torch.isnan(d)]
        return float(d.mean()) if len(d) else float("nan")
    return validate


def _state(model, opt, sched, ema, *, step: int, best_score: float, best_state, history: dict, digest) -> dict:
    return {"digest": digest, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "ema": ema.state_dict() if ema is not None else None,
            "step": step, "best_score": best_score, "best_state": best_state, "history": history,
            "rng": rng_state(None), "n_classes": model.n_classes, "widths": list(model.widths)}


def _restore(state: dict, model, opt, sched, ema) -> tuple[int, float, dict | None, dict]:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    if ema is not None and state.get("ema"):
        ema.load_state_dict(state["ema"])
    restore_rng(None, state["rng"])
    return state["step"], state["best_score"], state["best_state"], state["history"]


def train_unet(train_vols: list[np.ndarray], train_targets: list[np.ndarray], n_classes: int,
               params: UNetParams, *, steps: int | None = None, learning_rate: float | None = None,
               init_state: dict | None = None, device: torch.device | str = "cpu",
               validate: Validator | None = None, checkpoint: str | Path | None = None,
               digest: str | None = None, progress: bool = True, desc: str = "train unet") -> tuple[UNet3D, dict]:
    """Train a U-Net on ``(volume, target)`` pairs (targets: 0 background, 1..n_classes-1).

    One function on purpose: the optimiser, schedule, EMA, sampler and checkpoint state all live
    in the step loop, and resuming must restore them together.

    ``steps`` (default ``params.steps``) Adam steps at peak rate ``learning_rate`` (default
    ``params.learning_rate``) from ``init_state`` (a state dict) or random weights. Every
    ``val_every`` steps and at the end, ``validate`` scores the EMA model (the raw one when
    ``ema_decay`` is 0); the best-scoring weights are returned (the last ones without ``validate``).
    With a ``checkpoint`` path the whole state is saved at each validation and a run with the same
    ``digest`` resumes from it. Returns ``(model in eval mode, history)``.
    """
    params.check_patches()
    device = torch.device(device)
    steps = params.steps if steps is None else steps
    model = build_model(n_classes, params).to(device)
    if init_state is not None:
        model.load_state_dict(init_state)
    opt = torch.optim.Adam(model.parameters(), lr=params.learning_rate if learning_rate is None else learning_rate)
    warmup = min(params.warmup_steps, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, steps, warmup=warmup, min_fraction=params.lr_min_fraction))
    ema = EMA(model, params.ema_decay) if params.ema_decay > 0 else None
    sampler = PatchSampler(train_vols, train_targets, n_classes, params.patch_vox,
                           np.random.default_rng(params.seed), rot90_z=params.rot90_z, seed=params.seed)
    weight = None
    if params.ce_class_power > 0:
        counts = patch_class_counts(sampler, n_classes, batch_size=params.batch_size, seed=params.seed)
        weight = class_weights(counts, params.ce_class_power).to(device)
    criterion = loss_fn(params, weight)
    history: dict[str, Any] = {"step": [], "loss": [], "val_score": [], "lr": []}
    step, best_score, best_state = 0, -np.inf, None
    state = load_checkpoint(checkpoint, digest) if checkpoint else None
    if state is not None:
        step, best_score, best_state, history = _restore(state, model, opt, sched, ema)
    prior = float(history.get("seconds", 0.0))
    history["resumed_seconds"] = prior if state is not None else 0.0
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=step, desc=desc, unit="step", disable=not progress)
    running, n_running = torch.zeros((), device=device), 0
    loader = step_loader(sampler, params.batch_size, step, steps, workers=params.workers,
                         pin_memory=device.type == "cuda")
    for x, y in loader:
        model.train()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with autocast(device, params.amp):
            logits = model(x)
        loss = criterion(logits, y)
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            ema.update(model)
        step += 1
        running += loss.detach()
        n_running += 1
        bar.update(1)
        if step % params.val_every == 0 or step == steps:
            judged = ema.model if ema is not None else model
            judged.eval()
            score = float(validate(judged)) if validate is not None else float("nan")
            history["step"].append(step)
            history["loss"].append(float(running) / max(1, n_running))  # the one host sync per validation
            history["val_score"].append(score)
            history["lr"].append(float(sched.get_last_lr()[0]))
            running, n_running = torch.zeros((), device=device), 0
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val=f"{score:.3f}")
            if validate is None or (np.isfinite(score) and score > best_score):
                best_score = score if np.isfinite(score) else best_score
                best_state = copy.deepcopy(judged.state_dict())
            history["seconds"] = prior + time.perf_counter() - t0
            if checkpoint:
                save_checkpoint(checkpoint, _state(model, opt, sched, ema, step=step, best_score=best_score,
                                                   best_state=best_state, history=history, digest=digest))
    bar.close()
    final = cast(UNet3D, ema.model) if ema is not None else model   # the EMA holds a deep copy of model
    if best_state is not None:
        final.load_state_dict(best_state)
    history["best_val_score"] = float(best_score) if np.isfinite(best_score) else float("nan")
    final.eval()
    return final, history
