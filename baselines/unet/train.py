"""Training the U-Net: class-balanced patches, Dice/Tversky loss, validation, checkpoints, resume."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from baselines.torch_common import load_checkpoint, restore_rng, rng_state, save_checkpoint
from baselines.unet.losses import dice_scores, tversky_loss
from baselines.unet.model import UNet3D
from baselines.unet.params import UNetParams
from baselines.unet.patches import PatchSampler


def build_model(n_classes: int, params: UNetParams) -> UNet3D:
    return UNet3D(n_classes, tuple(params.widths), norm=params.norm)


def loss_fn(params: UNetParams):
    """Dice or Tversky loss, plus ``ce_weight`` x cross-entropy (0: the pure overlap loss)."""
    a, b = (0.5, 0.5) if params.loss == "dice" else (params.tversky_alpha, params.tversky_beta)
    w = params.ce_weight

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = tversky_loss(logits, y, alpha=a, beta=b)
        return out + w * torch.nn.functional.cross_entropy(logits, y) if w > 0 else out
    return loss


@torch.no_grad()
def validate(model: UNet3D, batch: tuple[np.ndarray, np.ndarray], device: torch.device) -> float:
    """Mean hard Dice over the non-background classes present in a fixed validation batch."""
    model.eval()
    x, y = batch
    pred = model(torch.from_numpy(x).to(device)).argmax(1).cpu()
    d = dice_scores(pred, torch.from_numpy(y), model.n_classes)[1:]
    d = d[~torch.isnan(d)]
    return float(d.mean()) if len(d) else float("nan")


def train_unet(train_vols: list[np.ndarray], train_targets: list[np.ndarray], n_classes: int,
               params: UNetParams, rng: np.random.Generator, *, device: torch.device | str = "cpu",
               val_vols: list[np.ndarray] | None = None, val_targets: list[np.ndarray] | None = None,
               checkpoint: str | Path | None = None, digest: str | None = None,
               progress: bool = True) -> tuple[UNet3D, dict]:
    """Train a U-Net on ``(volume, target)`` pairs (targets: 0 background, 1..n_classes-1).

    With validation data the returned model is the one with the best validation
    Dice (checked every ``val_every`` steps); otherwise the last one. With a
    ``checkpoint`` path, state is saved every ``val_every`` steps and training
    resumes from it when its ``digest`` matches. Returns ``(model, history)``.
    """
    params.check_patches()
    device = torch.device(device)
    model = build_model(n_classes, params).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=params.learning_rate)
    sampler = PatchSampler(train_vols, train_targets, n_classes, params.patch_vox, rng, rot90_z=params.rot90_z)
    val_batch = None
    if val_vols:
        vrng = np.random.default_rng(params.seed + 1)
        val_batch = PatchSampler(val_vols, val_targets, n_classes, params.patch_vox, vrng).sample(
            params.val_patches, vrng)
    history = {"step": [], "loss": [], "val_dice": []}
    step, best_score, best_state = 0, -1.0, None
    state = load_checkpoint(checkpoint, digest) if checkpoint else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, best_score, best_state = state["step"], state["best_score"], state["best_state"]
        history = state["history"]
        restore_rng(rng, state["rng"])
    prior = float(history.get("seconds", 0.0))
    history["resumed_seconds"] = prior if state is not None else 0.0
    t0 = time.perf_counter()
    criterion = loss_fn(params)
    bar = tqdm(total=params.steps, initial=step, desc="train unet", unit="step", disable=not progress)
    running = []
    while step < params.steps:
        model.train()
        x, y = sampler.sample(params.batch_size, rng)
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        opt.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        step += 1
        running.append(float(loss.detach()))
        bar.update(1)
        if step % params.val_every == 0 or step == params.steps:
            history["step"].append(step)
            history["loss"].append(float(np.mean(running)))
            running = []
            score = validate(model, val_batch, device) if val_batch is not None else float("nan")
            history["val_dice"].append(score)
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", val_dice=f"{score:.3f}")
            if val_batch is None or (np.isfinite(score) and score > best_score):
                best_score = score if np.isfinite(score) else best_score
                best_state = copy.deepcopy(model.state_dict())
            history["seconds"] = prior + time.perf_counter() - t0
            if checkpoint:
                save_checkpoint(checkpoint, {"digest": digest, "model": model.state_dict(),
                                             "optimizer": opt.state_dict(), "step": step,
                                             "best_score": best_score, "best_state": best_state,
                                             "history": history, "rng": rng_state(rng),
                                             "n_classes": n_classes, "widths": list(params.widths)})
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    history["best_val_dice"] = best_score if best_score >= 0 else float("nan")
    model.eval()
    return model, history
