"""From a segmentation to a particle list.

Connected components of the foreground (any non-background label, 26-connected
by default) are particles. Each component's class is the majority label of its
voxels; components smaller than that class's ``min_size`` (voxels) are dropped,
components larger than its ``max_size`` are dropped too (``None``: no limit);
the centre is the centroid of the component's voxels (x, y, z; voxels).
The score is the component's mean probability of its class when probabilities
are given, else the fraction of its voxels that voted for the class.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import ndimage

from tomobench.particles import make_particles


def segmentation_to_particles(labels: np.ndarray, class_names: list[str], *,
                              min_size: Mapping[str, float] | float = 1,
                              max_size: Mapping[str, float] | float | None = None,
                              probs: np.ndarray | None = None, connectivity: int = 3,
                              tomo: str = "") -> pd.DataFrame:
    """``labels`` [z, y, x] target indices (0 background); ``class_names[i]`` names index i.

    Returns a particle list (tomobench.particles) sorted by decreasing score.
    """
    labels = np.asarray(labels)
    structure = ndimage.generate_binary_structure(3, connectivity)
    components, n = ndimage.label(labels > 0, structure=structure)
    if n == 0:
        return make_particles([], np.zeros((0, 3)), tomo=tomo)
    n_classes = len(class_names)
    fg = components > 0
    comp = components[fg]
    lab = labels[fg].astype(np.int64)
    # votes[k, c] = number of voxels of component k+1 with label c
    votes = np.zeros((n + 1, n_classes), dtype=np.int64)
    np.add.at(votes, (comp, lab), 1)
    votes = votes[1:]
    sizes = votes.sum(axis=1)
    winner = votes.argmax(axis=1)
    nz = np.nonzero(fg)
    zyx = np.stack(nz, axis=1).astype(float)
    sums = np.zeros((n + 1, 3))
    np.add.at(sums, comp, zyx)
    centroids = sums[1:] / sizes[:, None]
    if probs is not None:
        p_sum = np.zeros(n + 1)
        np.add.at(p_sum, comp, probs[winner[comp - 1], nz[0], nz[1], nz[2]])
        score = p_sum[1:] / sizes
    else:
        score = votes[np.arange(n), winner] / sizes
    keep = []
    for k in range(n):
        name = class_names[winner[k]]
        lo = min_size.get(name, 1) if isinstance(min_size, Mapping) else min_size
        hi = max_size.get(name) if isinstance(max_size, Mapping) else max_size
        if sizes[k] >= lo and (hi is None or sizes[k] <= hi):
            keep.append(k)
    keep = np.array(keep, dtype=int)
    order = keep[np.argsort(-score[keep], kind="stable")]
    return make_particles([class_names[winner[k]] for k in order], centroids[order][:, ::-1],
                          score=score[order], tomo=tomo)


def size_limits(voxel_counts: Mapping[str, list[int]], *, min_fraction: float = 0.25,
                max_factor: float | None = None) -> tuple[dict[str, float], dict[str, float] | None]:
    """Per-class size filters from training particle sizes (voxels): ``min_fraction`` x median (and
    ``max_factor`` x median when given)."""
    lo, hi = {}, ({} if max_factor else None)
    for name, counts in voxel_counts.items():
        if len(counts):
            med = float(np.median(counts))
            lo[name] = max(1.0, min_fraction * med)
            if hi is not None:
                hi[name] = max_factor * med
    return lo, hi
