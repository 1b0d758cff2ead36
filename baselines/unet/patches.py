"""Class-balanced patch sampling and missing-wedge-safe augmentation.

Patch centres are drawn class by class: a class (background included) is chosen
uniformly among those present, then a voxel of that class uniformly, so small
classes are seen as often as large ones. Augmentation uses only flips of the
x, y and z axes (which include the 180-degree rotation about z): they map a
missing wedge about the y tilt axis onto itself. A 90-degree rotation about z
swaps x and y and so turns the wedge about z; it is available
(``rot90_z=True``) for data whose wedge does not matter, off by default.
"""

from __future__ import annotations

import numpy as np

from tomobench.volumes import crop


def class_voxel_index(target: np.ndarray, n_classes: int, max_per_class: int,
                      rng: np.random.Generator) -> list[np.ndarray]:
    """Per class, up to ``max_per_class`` flat voxel indices of that class (random subset)."""
    flat = target.ravel()
    out = []
    for c in range(n_classes):
        idx = np.flatnonzero(flat == c)
        if len(idx) > max_per_class:
            idx = rng.choice(idx, max_per_class, replace=False)
        out.append(np.sort(idx))
    return out


def augment(patch: np.ndarray, label: np.ndarray, rng: np.random.Generator, *,
            rot90_z: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Random flips of z, y, x (and optionally a 90-degree turn about z) applied to both arrays."""
    for axis in range(3):
        if rng.random() < 0.5:
            patch, label = np.flip(patch, axis), np.flip(label, axis)
    if rot90_z:
        k = int(rng.integers(4))
        patch, label = np.rot90(patch, k, axes=(1, 2)), np.rot90(label, k, axes=(1, 2))
    return np.ascontiguousarray(patch), np.ascontiguousarray(label)


class PatchSampler:
    """Draws class-balanced training patches from several (volume, target) pairs."""

    def __init__(self, volumes: list[np.ndarray], targets: list[np.ndarray], n_classes: int, patch: int,
                 rng: np.random.Generator, *, max_per_class: int = 200_000, rot90_z: bool = False):
        self.volumes, self.targets, self.patch, self.rot90_z = volumes, targets, patch, rot90_z
        self.n_classes = n_classes
        # index[c] = list of (tomogram, flat voxel indices of class c)
        self.index = [[] for _ in range(n_classes)]
        for t, target in enumerate(targets):
            for c, idx in enumerate(class_voxel_index(target, n_classes, max_per_class, rng)):
                if len(idx):
                    self.index[c].append((t, idx))
        self.present = [c for c in range(n_classes) if self.index[c]]
        if not self.present:
            raise ValueError("no voxels to sample from")

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(x [B, 1, p, p, p] float32, y [B, p, p, p] int64)``."""
        xs, ys = [], []
        half = self.patch // 2
        for _ in range(batch):
            c = self.present[int(rng.integers(len(self.present)))]
            t, idx = self.index[c][int(rng.integers(len(self.index[c])))]
            centre = np.array(np.unravel_index(int(idx[int(rng.integers(len(idx)))]), self.targets[t].shape))
            # jitter so the chosen voxel is not always at the patch centre
            corner = centre - half + rng.integers(-half // 2, half // 2 + 1, size=3)
            x = crop(self.volumes[t], corner, self.patch)
            y = crop(self.targets[t], corner, self.patch)
            x, y = augment(x, y, rng, rot90_z=self.rot90_z)
            xs.append(x)
            ys.append(y)
        return np.stack(xs)[:, None].astype(np.float32), np.stack(ys).astype(np.int64)
