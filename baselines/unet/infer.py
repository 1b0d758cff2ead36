"""Sliding-window inference with overlap, blending and test-time augmentation, on the model's device.

The volume is covered by cubes of ``patch`` voxels placed every ``patch - overlap``
voxels (the last cube flush with the far edge; zero padding where the volume is
smaller than a cube). Softmax probabilities of overlapping cubes are blended
with a weight that falls linearly towards each cube's faces (the border voxels
of a cube, which see less context, count less). With ``tta`` each cube is also
predicted turned by the three wedge-safe 180-degree rotations of
:data:`baselines.unet.patches.PROPER_ROTATIONS`, turned back and averaged.
The blending buffers live on ``device`` (GPU-side blending on CUDA); the result
is a tensor ``[C, z, y, x]`` there.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import torch
from tqdm import tqdm

from baselines.torch_common import autocast
from baselines.unet.patches import PROPER_ROTATIONS
from tomobench.volumes import crop


def window_starts(length: int, patch: int, step: int) -> list[int]:
    """Start indices of windows covering ``[0, length)`` (one at 0 if the axis is shorter than a patch)."""
    if length <= patch:
        return [0]
    starts = list(range(0, length - patch + 1, step))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts


def _weight(patch: int) -> np.ndarray:
    ramp = np.minimum(np.arange(patch) + 1, patch - np.arange(patch)).astype(np.float32)
    ramp = np.minimum(ramp / max(1.0, patch / 4), 1.0)
    return ramp[:, None, None] * ramp[None, :, None] * ramp[None, None, :]


def _tta_forward(model: torch.nn.Module, x: torch.Tensor, tta: bool) -> torch.Tensor:
    """Softmax of ``model(x)`` (fp32), averaged over the proper rotations when ``tta``."""
    rotations = PROPER_ROTATIONS if tta else PROPER_ROTATIONS[:1]
    out = _turned_softmax(model, x, rotations[0])
    for flips in rotations[1:]:
        out = out + _turned_softmax(model, x, flips)
    return out / len(rotations)


def _turned_softmax(model: torch.nn.Module, x: torch.Tensor, flips: tuple[int, ...]) -> torch.Tensor:
    """Softmax of ``model`` (fp32) applied to ``x`` flipped along ``flips`` (axes of [z, y, x]), flipped back."""
    dims = [2 + a for a in flips]
    xr = torch.flip(x, dims) if dims else x
    p = torch.softmax(model(xr).float(), dim=1)
    return torch.flip(p, dims) if dims else p


@torch.no_grad()
def predict_probs(model: torch.nn.Module, volume: np.ndarray, *, patch: int = 64, overlap: int = 16,
                  batch: int = 2, device: torch.device | str = "cpu", tta: bool = False, amp: bool = True,
                  progress: bool = True) -> torch.Tensor:
    """Class probabilities ``[C, z, y, x]`` (float32, on ``device``) of ``volume`` ([z, y, x], normalised)."""
    if overlap >= patch:
        raise ValueError("overlap must be smaller than the patch")
    device = torch.device(device)
    model.eval()
    shape = volume.shape
    # n_classes is a plain int attribute of the model (UNet3D or a test double), not a submodule
    acc = torch.zeros((cast(int, model.n_classes),) + shape, dtype=torch.float32, device=device)
    norm = torch.zeros(shape, dtype=torch.float32, device=device)
    weight = torch.from_numpy(_weight(patch)).to(device)
    step = patch - overlap
    corners = [np.array((z, y, x)) for z in window_starts(shape[0], patch, step)
               for y in window_starts(shape[1], patch, step) for x in window_starts(shape[2], patch, step)]
    bar = tqdm(total=len(corners), desc="segment", unit="patch", disable=not progress, leave=False)
    for i in range(0, len(corners), batch):
        group = corners[i:i + batch]
        x = torch.from_numpy(np.stack([crop(volume, c, patch) for c in group])[:, None]).to(device)
        with autocast(device, amp):
            probs = _tta_forward(model, x, tta)
        for c, p in zip(group, probs):
            hi = np.minimum(c + patch, shape)
            ext = hi - c
            sl = (slice(c[0], hi[0]), slice(c[1], hi[1]), slice(c[2], hi[2]))
            w = weight[:ext[0], :ext[1], :ext[2]]
            acc[(slice(None),) + sl] += p[:, :ext[0], :ext[1], :ext[2]] * w
            norm[sl] += w
        bar.update(len(group))
    bar.close()
    return acc / norm.clamp_min(1e-12)


def predict_volume(model: torch.nn.Module, volume: np.ndarray, **kw) -> np.ndarray:
    """The most probable class per voxel (uint8 label map) of :func:`predict_probs`."""
    return predict_probs(model, volume, **kw).argmax(0).to(torch.uint8).cpu().numpy()
