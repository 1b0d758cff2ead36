"""Learning-rate schedule and exponential moving average (EMA) of the weights.

Schedule: a linear warm-up from ``1 / warmup`` of the base rate over the first
``warmup`` steps, then a cosine decay to ``min_fraction`` of it at the last step
(the base rate is ``Adam``'s ``lr``; :func:`lr_factor` is the multiplier).

EMA: after every optimisation step ``e <- d e + (1 - d) w`` for every floating
parameter and buffer, with the effective decay ``d = min(decay, (1 + n) / (10 + n))``
after ``n`` previous updates (the usual warm-up, so early averages are not
dominated by the random initial weights); integer buffers (batch-norm's
counter) are copied. Validation and inference use the averaged weights.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def lr_factor(step: int, total: int, *, warmup: int = 0, min_fraction: float = 0.05) -> float:
    """Multiplier of the base learning rate at (0-based) ``step`` of ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup - 1)
    progress = min(1.0, max(0.0, (step - warmup) / span))
    return min_fraction + (1.0 - min_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress))


class EMA:
    """An exponential moving average of a model's state (see the module docstring)."""

    def __init__(self, model: nn.Module, decay: float = 0.99):
        if not 0.0 <= decay < 1.0:
            raise ValueError("the EMA decay must lie in [0, 1)")
        self.decay = float(decay)
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def effective_decay(self) -> float:
        """The decay of the next update: ramps up from 0.1 to ``decay`` over the first updates."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards the current state of ``model`` (buffers are copied)."""
        d = self.effective_decay()
        current = model.state_dict()
        for name, avg in self.model.state_dict().items():
            new = current[name].detach()
            if avg.dtype.is_floating_point:
                avg.mul_(d).add_(new.to(avg.dtype), alpha=1.0 - d)
            else:
                avg.copy_(new)
        self.updates += 1

    def state_dict(self) -> dict:
        """The average's state (decay, update count, averaged model) for a checkpoint."""
        return {"decay": self.decay, "updates": self.updates, "model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore the state written by :meth:`state_dict`."""
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        self.model.load_state_dict(state["model"])
