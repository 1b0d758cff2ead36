"""Sliding-window inference with overlap.

The volume is covered by cubes of ``patch`` voxels placed every ``patch - overlap``
voxels (the last cube flush with the far edge; zero padding where the volume is
smaller than a cube). Softmax probabilities of overlapping cubes are blended
with a weight that falls linearly towards each cube's faces (the border voxels
of a cube, which see less context, count less), then each voxel takes the most
probable class.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

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


@torch.no_grad()
def predict_volume(model: torch.nn.Module, volume: np.ndarray, *, patch: int = 64, overlap: int = 16,
                   batch: int = 2, device: torch.device | str = "cpu", progress: bool = True,
                   return_probs: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Segment ``volume`` ([z, y, x], normalised); returns the label map (uint8) [and probabilities [C, z, y, x]]."""
    if overlap >= patch:
        raise ValueError("overlap must be smaller than the patch")
    model.eval()
    n_classes = model.n_classes
    shape = volume.shape
    acc = np.zeros((n_classes,) + shape, dtype=np.float32)
    norm = np.zeros(shape, dtype=np.float32)
    weight = _weight(patch)
    step = patch - overlap
    corners = [np.array((z, y, x)) for z in window_starts(shape[0], patch, step)
               for y in window_starts(shape[1], patch, step) for x in window_starts(shape[2], patch, step)]
    bar = tqdm(total=len(corners), desc="segment", unit="patch", disable=not progress, leave=False)
    for i in range(0, len(corners), batch):
        group = corners[i:i + batch]
        x = torch.from_numpy(np.stack([crop(volume, c, patch) for c in group])[:, None]).to(device)
        probs = torch.softmax(model(x), dim=1).float().cpu().numpy()
        for c, p in zip(group, probs):
            hi = np.minimum(c + patch, shape)
            ext = hi - c
            sl = (slice(c[0], hi[0]), slice(c[1], hi[1]), slice(c[2], hi[2]))
            w = weight[:ext[0], :ext[1], :ext[2]]
            acc[(slice(None),) + sl] += p[:, :ext[0], :ext[1], :ext[2]] * w
            norm[sl] += w
        bar.update(len(group))
    bar.close()
    acc /= np.maximum(norm, 1e-12)
    labels = acc.argmax(axis=0).astype(np.uint8)
    return (labels, acc) if return_probs else labels
