"""DoG+CNN picking: training-set assembly from the train split and classification of candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from baselines.classifier.extract import background_points, extract_subtomograms
from baselines.training_data import TrainTomogram
from tomobench.particles import make_particles


def training_set(tomos: list[TrainTomogram], box: int, background_ratio: float, min_distance: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Subtomograms at the particles (labels = target index) and at random background points (label 0),
    ``background_ratio`` background points per particle of a tomogram (at least 10).

    Particles of unscored classes (membranes, ...) are not in ``particles``; their voxels are not
    background in the target map either way, so background points avoid non-zero targets only.
    """
    xs, ys = [], []
    for t in tomos:
        xyz = t.particles[["x", "y", "z"]].to_numpy(float)
        if len(xyz):
            xs.append(extract_subtomograms(t.volume, xyz, box))
            ys.append(t.particles["target"].to_numpy(int))
        n_background = max(10, int(round(background_ratio * len(xyz))))
        bg = background_points(t.volume.shape, xyz, n_background, min_distance, rng, class_mask=t.target)
        if len(bg):
            xs.append(extract_subtomograms(t.volume, bg, box))
            ys.append(np.zeros(len(bg), int))
    if not xs:
        return np.zeros((0, box, box, box), np.float32), np.zeros(0, int)
    return np.concatenate(xs), np.concatenate(ys)


def picks_from_logits(xyz: np.ndarray, logits: np.ndarray, target_names: list[str], *, min_probability: float,
                      min_distance_vox: float, tomo: str = "") -> pd.DataFrame:
    """Candidates classified as a particle class (not background) with probability >= ``min_probability``;
    of two picks closer than ``min_distance_vox`` the less probable one is dropped."""
    z = logits - logits.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    cls = prob.argmax(axis=1)
    p = prob[np.arange(len(prob)), cls]
    keep = (cls > 0) & (p >= min_probability)
    idx = np.flatnonzero(keep)[np.argsort(-p[keep], kind="stable")]
    chosen: list[int] = []
    if len(idx):
        tree = cKDTree(xyz[idx])
        taken = np.zeros(len(idx), bool)
        for j in range(len(idx)):
            if taken[j]:
                continue
            chosen.append(idx[j])
            taken[tree.query_ball_point(xyz[idx[j]], min_distance_vox)] = True
    chosen_arr = np.array(chosen, int)
    return make_particles([target_names[c] for c in cls[chosen_arr]], xyz[chosen_arr], score=p[chosen_arr],
                          tomo=tomo)
