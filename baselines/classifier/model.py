"""A small DSRF3D-style classifier (Xu et al. 2017, Fig. 1b), width configurable.

Four 3x3x3 convolutions (``width``, ``width``, ``2 width``, ``2 width``; batch
norm + ReLU; the running statistics are recomputed over the training set after
training, :func:`baselines.classifier.train.recalibrate_batchnorm`) with a 2x2x2
max pooling after the second and the fourth, an
adaptive average pooling to 2x2x2 (so any box of 12 voxels or more works), then
``FC-hidden -> ReLU -> dropout -> FC-n_classes``. ``forward`` returns the
pre-softmax outputs (logits): they are the paper's structural features (Section 2.3).
"""

from __future__ import annotations

import torch
from torch import nn


class SubtomoCNN(nn.Module):
    """The DSRF3D-style classifier of the module docstring.

    Parameters
    ----------
    n_classes : int
        Number of output classes (background included).
    width : int
        Channels of the first two convolutions (the last two have ``2 width``).
    hidden : int
        Units of the hidden fully connected layer.
    dropout : float
        Dropout probability before the last layer.
    """

    def __init__(self, n_classes: int, width: int = 16, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        w = int(width)

        def conv(a: int, b: int) -> list[nn.Module]:
            return [nn.Conv3d(a, b, 3, padding=1, bias=False), nn.BatchNorm3d(b), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*conv(1, w), *conv(w, w), nn.MaxPool3d(2),
                                      *conv(w, 2 * w), *conv(2 * w, 2 * w), nn.MaxPool3d(2),
                                      nn.AdaptiveAvgPool3d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(2 * w * 8, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, n_classes))
        self.n_classes = n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [B, 1, s, s, s] -> logits [B, n_classes]."""
        return self.head(self.features(x))
