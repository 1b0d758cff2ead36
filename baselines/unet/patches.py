"""Class-balanced patch sampling and wedge-safe proper-rotation augmentation.

Patch centres are drawn class by class: a class (background included) is chosen
uniformly among those present, then a voxel of that class uniformly, so small
classes are seen as often as large ones; the centre is jittered by up to a
quarter patch (small shifts). Augmentation uses only *proper* rotations that
map a missing wedge about the y tilt axis (beam along z) onto itself: the
identity and the 180-degree turns about y (the tilt axis), about z (the beam)
and about x (their product). Each flips two axes, so its determinant is +1;
a single-axis flip would be a mirror image, and chiral particles never occur
mirrored. A 90-degree rotation about z is proper too but turns the wedge about
z; it is available (``rot90_z=True``) for data whose wedge does not matter.

Batches are a pure function of ``(seed, step)`` (:meth:`PatchSampler.batch`), so
training resumes exactly and gives the same batches with any number of
DataLoader workers.
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


#: The wedge-safe proper rotations as the [z, y, x] axes they flip: identity, 180 deg about y, z, x.
PROPER_ROTATIONS: tuple[tuple[int, ...], ...] = ((), (0, 2), (1, 2), (0, 1))


def rotation_matrix(flipped_axes: tuple[int, ...]) -> np.ndarray:
    """The 3x3 matrix (on [z, y, x] coordinates about the patch centre) of flipping ``flipped_axes``."""
    m = np.eye(3)
    for a in flipped_axes:
        m[a, a] = -1.0
    return m


def rotate(array: np.ndarray, index: int, *, spatial_start: int = 0) -> np.ndarray:
    """``array`` turned by :data:`PROPER_ROTATIONS` ``[index]`` (spatial axes from ``spatial_start``).

    Each of these rotations is its own inverse, so ``rotate(rotate(a, i), i)`` is ``a``.
    """
    axes = tuple(spatial_start + a for a in PROPER_ROTATIONS[index])
    return np.flip(array, axes) if axes else array


def augment(patch: np.ndarray, label: np.ndarray, rng: np.random.Generator, *,
            rot90_z: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Apply one random proper rotation to a patch and its label.

    One random proper rotation of :data:`PROPER_ROTATIONS` (and optionally a 90-degree turn about z)
    applied to both arrays.
    """
    k = int(rng.integers(len(PROPER_ROTATIONS)))
    patch, label = rotate(patch, k), rotate(label, k)
    if rot90_z:
        q = int(rng.integers(4))
        patch, label = np.rot90(patch, q, axes=(1, 2)), np.rot90(label, q, axes=(1, 2))
    return np.ascontiguousarray(patch), np.ascontiguousarray(label)


class PatchSampler:
    """Draws class-balanced training patches from several (volume, target) pairs."""

    def __init__(self, volumes: list[np.ndarray], targets: list[np.ndarray], n_classes: int, patch: int,
                 rng: np.random.Generator, *, max_per_class: int = 200_000, rot90_z: bool = False,
                 seed: int = 0):
        self.volumes, self.targets, self.patch, self.rot90_z = volumes, targets, patch, rot90_z
        self.seed = int(seed)
        self.n_classes = n_classes
        # index[c] = list of (tomogram, flat voxel indices of class c)
        self.index: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(n_classes)]
        for t, target in enumerate(targets):
            for c, idx in enumerate(class_voxel_index(target, n_classes, max_per_class, rng)):
                if len(idx):
                    self.index[c].append((t, idx))
        self.present = [c for c in range(n_classes) if self.index[c]]
        if not self.present:
            raise ValueError("no voxels to sample from")

    def batch(self, step: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """The batch of training step ``step``: drawn with ``default_rng([seed, step])``."""
        return self.sample(batch, np.random.default_rng([self.seed, int(step)]))

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
