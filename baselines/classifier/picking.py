"""DoG+CNN picking: training-set assembly from the train split and classification of candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import softmax

from baselines.classifier.extract import background_points, extract_subtomograms
from baselines.training_data import TrainTomogram
from baselines.unet.peaks import Peaks, Truth, hit_ids, nms_by_class_radius
from tomobench.particles import make_particles


def jittered_boxes(tomo: TrainTomogram, box: int, radii_vox: np.ndarray, *, jitter_fraction: float, copies: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Boxes jittered around each particle centre, labelled by its target.

    ``copies`` boxes per particle, each centred a random offset away from the true centre: uniform in
    a ball of ``jitter_fraction`` x the class radius (``radii_vox[target]``). Labels: the target index.
    """
    xyz = tomo.particles[["x", "y", "z"]].to_numpy(float)
    target = tomo.particles["target"].to_numpy(int)
    if not len(xyz) or copies < 1:
        return np.zeros((0, box, box, box), np.float32), np.zeros(0, int)
    xyz, target = np.repeat(xyz, copies, axis=0), np.repeat(target, copies)
    direction = rng.normal(size=xyz.shape)
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
    radius = jitter_fraction * radii_vox[target] * rng.random(len(xyz)) ** (1 / 3)  # uniform in the ball
    return extract_subtomograms(tomo.volume, xyz + direction * radius[:, None], box), target


def matched_candidates(xyz: np.ndarray, truth: Truth) -> np.ndarray:
    """The target index each candidate lands in (SHREC's hit rule; 0: background or an unscored particle)."""
    pid = hit_ids(xyz, truth.occupancy)
    table = np.r_[truth.particle_target, 0]
    return table[np.minimum(pid, len(table) - 1)]


def training_set(tomos: list[TrainTomogram], candidates: list[np.ndarray], box: int, radii_vox: np.ndarray, *,
                 jitter_fraction: float, copies: int, background_ratio: float, min_distance: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Training subtomograms of one tomogram: particles, matched candidates and background.

    Subtomograms the CNN learns from, per tomogram: jittered boxes at the particles
    (:func:`jittered_boxes`), the tomogram's DoG ``candidates`` labelled by the truth they land in
    (:func:`matched_candidates`; the strongest one per particle; the offsets and hard negatives the
    classifier meets at test time), and
    background boxes up to ``background_ratio`` per particle box: first the unmatched candidates
    (strongest first), then random points away from particles if those run short (at least 10).
    """
    xs, ys = [], []
    for t, cand in zip(tomos, candidates):
        x, y = jittered_boxes(t, box, radii_vox, jitter_fraction=jitter_fraction, copies=copies, rng=rng)
        truth = Truth.from_particles(t.occupancy if t.occupancy is not None else np.zeros(t.volume.shape, int),
                                     t.particles["id"].to_numpy(), t.particles["target"].to_numpy())
        label = matched_candidates(cand, truth) if len(cand) else np.zeros(0, int)
        # the strongest candidate on each particle (several on one large particle would weigh it more)
        _, first = np.unique(hit_ids(cand, truth.occupancy)[label > 0], return_index=True)
        positives = np.flatnonzero(label > 0)[first]
        n_background = max(10, int(round(background_ratio * (len(y) + len(positives)))))
        negatives = np.flatnonzero(label == 0)[:n_background]
        chosen = np.r_[np.sort(positives), negatives].astype(int)
        xs += [x, extract_subtomograms(t.volume, cand[chosen], box)]
        ys += [y, label[chosen]]
        short = n_background - len(negatives)
        if short > 0:
            bg = background_points(t.volume.shape, t.particles[["x", "y", "z"]].to_numpy(float), short,
                                   min_distance, rng, class_mask=t.target)
            xs.append(extract_subtomograms(t.volume, bg, box))
            ys.append(np.zeros(len(bg), int))
    if not xs:
        return np.zeros((0, box, box, box), np.float32), np.zeros(0, int)
    return np.concatenate(xs), np.concatenate(ys)


def picks_from_logits(xyz: np.ndarray, logits: np.ndarray, target_names: list[str], *, min_probability: float,
                      min_distance_vox: float | np.ndarray, tomo: str = "") -> pd.DataFrame:
    """Picks from the classified candidates, thresholded and thinned.

    Candidates classified as a particle class (not background) with probability >= ``min_probability``,
    most probable first; a pick closer to a kept one than ``min_distance_vox`` (one value, or one per
    target index: the smaller of the two classes' distances applies) is dropped.
    """
    peaks = classified_peaks(xyz, logits, min_distance_vox)
    peaks = peaks.select(peaks.score >= min_probability)
    return make_particles([target_names[c] for c in peaks.target], peaks.xyz, score=peaks.score, tomo=tomo)


def classified_peaks(xyz: np.ndarray, logits: np.ndarray, min_distance_vox: float | np.ndarray) -> Peaks:
    """Classified candidates as peaks, thinned by non-maximum suppression.

    The candidates as :class:`~baselines.unet.peaks.Peaks` (class = the most probable non-background
    class when that beats background, score = its probability), thinned by the NMS of
    :func:`picks_from_logits`; background-classified candidates are dropped.
    """
    prob = softmax(logits, axis=1)
    cls = prob.argmax(axis=1)
    p = prob[np.arange(len(prob)), cls]
    idx = np.flatnonzero(cls > 0)
    idx = idx[np.argsort(-p[idx], kind="stable")]
    keep = nms_by_class_radius(xyz[idx], cls[idx], min_distance_vox)
    idx = idx[keep]
    return Peaks(cls[idx].astype(int), np.asarray(xyz, float)[idx].reshape(-1, 3), p[idx].astype(float))


def assigned_peaks(xyz: np.ndarray, logits: np.ndarray) -> Peaks:
    """Every candidate as a peak of its most probable *particle* class, scored by 1 - P(background).

    The CNN only assigns a class (the argmax over classes 1..K, background excluded) and a score; no
    candidate is dropped here, so thresholds tuned from ``score >= 0`` (all kept) start at the
    candidates' own localization. Peaks by decreasing score (stable).
    """
    prob = softmax(logits, axis=1)
    cls = prob[:, 1:].argmax(axis=1) + 1
    score = 1.0 - prob[:, 0]
    order = np.argsort(-score, kind="stable")
    return Peaks(cls[order].astype(int), np.asarray(xyz, float).reshape(-1, 3)[order], score[order].astype(float))
