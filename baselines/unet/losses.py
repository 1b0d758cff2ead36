"""Overlap losses for multi-class segmentation (softmax over the class axis).

Tversky index per class c: TP / (TP + alpha FP + beta FN) with soft counts
TP = sum p_c g_c, FP = sum p_c (1 - g_c), FN = sum (1 - p_c) g_c over the batch;
alpha = beta = 0.5 is the Dice coefficient. The loss is 1 - the mean index over
the classes present in the batch's target (a class absent from the target is
skipped; predicting it anyway is still penalised through the background's index).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def tversky_loss(logits: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.5, beta: float = 0.5,
                 eps: float = 1e-6, include_background: bool = True) -> torch.Tensor:
    """``logits`` [B, C, ...]; ``target`` [B, ...] int64 class indices. Returns a scalar."""
    n_classes = logits.shape[1]
    probs = F.softmax(logits, dim=1)
    onehot = F.one_hot(target.long(), n_classes).movedim(-1, 1).to(probs.dtype)
    dims = (0,) + tuple(range(2, logits.ndim))
    tp = (probs * onehot).sum(dims)
    fp = (probs * (1 - onehot)).sum(dims)
    fn = ((1 - probs) * onehot).sum(dims)
    index = (tp + eps) / (tp + alpha * fp + beta * fn + eps)
    present = onehot.sum(dims) > 0
    if not include_background:
        present[0] = False
    if not bool(present.any()):
        return logits.sum() * 0.0
    return 1.0 - index[present].mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, **kw) -> torch.Tensor:
    """Soft multi-class Dice loss (Tversky with alpha = beta = 0.5)."""
    return tversky_loss(logits, target, alpha=0.5, beta=0.5, **kw)


def dice_scores(pred: torch.Tensor, target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Hard Dice per class from label maps (NaN where a class is absent from both)."""
    out = torch.full((n_classes,), float("nan"))
    for c in range(n_classes):
        p, g = pred == c, target == c
        denom = int(p.sum()) + int(g.sum())
        if denom:
            out[c] = 2.0 * int((p & g).sum()) / denom
    return out


def class_weights(counts, power: float = 0.5) -> torch.Tensor:
    """Cross-entropy class weights from the voxel counts per class.

    Cross-entropy class weights ``w_c ∝ f_c^-power`` from voxel ``counts`` per class (f = frequency),
    scaled so the mean weight per voxel, ``sum_c f_c w_c``, is 1. ``power`` 0 gives all ones, 1 gives
    every class the same total weight; a class with no voxel gets the largest weight of the others.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.sum() <= 0:
        raise ValueError("class_weights needs at least one voxel")
    freq = counts / counts.sum()
    present = freq > 0
    w = torch.zeros_like(freq)
    w[present] = freq[present] ** (-power)
    w = w / (freq * w).sum()
    w[~present] = w[present].max()
    return w.float()


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Class-weighted cross-entropy, averaged over voxels.

    Mean over voxels of ``w[y] * CE`` (not torch's weight-normalised mean, so a batch with more small-class
    voxels weighs more, as the weights say).
    """
    ce = F.cross_entropy(logits, target, reduction="none")
    return (ce * weight.to(ce.dtype)[target]).mean()
