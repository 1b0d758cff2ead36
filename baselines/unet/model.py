"""A 3D U-Net with configurable width and depth.

``widths=(8, 16, 32)`` (the default, ~0.1 M parameters) trains on a laptop CPU;
``widths=(32, 48, 64)`` is DeepFinder's layout (Moebel et al., SHREC 2020 Fig. 6).
Each level has two 3x3x3 convolutions (+ normalisation + ReLU; batch norm by
default, group norm or none as options); down-sampling by
2x2x2 max pooling, up-sampling by transposed convolution, skip connections by
concatenation; a 1x1x1 convolution gives one logit per target class.
Inputs are ``[batch, 1, z, y, x]`` with each spatial size divisible by
``2 ** (len(widths) - 1)``.
"""

from __future__ import annotations

import torch
from torch import nn


def _norm(kind: str, c: int) -> nn.Module | None:
    if kind == "group":
        return nn.GroupNorm(min(4, c), c)
    if kind == "batch":
        return nn.BatchNorm3d(c)
    if kind == "none":
        return None
    raise ValueError(f"unknown normalisation {kind!r}: group, batch or none")


def _block(c_in: int, c_out: int, norm: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(2):
        layer = _norm(norm, c_out)
        layers.append(nn.Conv3d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=layer is None))
        if layer is not None:
            layers.append(layer)
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UNet3D(nn.Module):
    """Encoder-decoder with skip connections; ``forward`` returns logits ``[B, n_classes, z, y, x]``."""

    def __init__(self, n_classes: int, widths: tuple[int, ...] = (8, 16, 32), in_channels: int = 1,
                 norm: str = "batch"):
        super().__init__()
        if len(widths) < 2:
            raise ValueError("a U-Net needs at least two levels (widths of length >= 2)")
        if n_classes < 2:
            raise ValueError("n_classes counts the background too: at least 2")
        self.widths = tuple(int(w) for w in widths)
        self.n_classes = n_classes
        self.encoders = nn.ModuleList()
        c = in_channels
        for w in self.widths:
            self.encoders.append(_block(c, w, norm))
            c = w
        self.pool = nn.MaxPool3d(2)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for w_low, w_high in zip(self.widths[:0:-1], self.widths[-2::-1]):
            self.ups.append(nn.ConvTranspose3d(w_low, w_high, 2, stride=2))
            self.decoders.append(_block(2 * w_high, w_high, norm))
        self.head = nn.Conv3d(self.widths[0], n_classes, 1)

    @property
    def multiple(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2 ** (len(self.widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, n_classes, z, y, x)`` of a batch ``x`` of shape ``(B, 1, z, y, x)``."""
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x)
            if i < len(self.encoders) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, dec in zip(self.ups, self.decoders):
            x = up(x)
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    """Number of weights (frozen ones too: the EMA copy has no gradients)."""
    return sum(p.numel() for p in model.parameters())
