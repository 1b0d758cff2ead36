"""Classification scores and the k-means cluster purity of Xu et al. (2017), Section 2.3."""

from __future__ import annotations

import numpy as np
from scipy.cluster.vq import kmeans2


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``counts[i, j]`` = samples of true class i predicted as j."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return m


def per_class_f1(confusion: np.ndarray) -> np.ndarray:
    """F1 per class from a confusion matrix (0 where a class has no true or predicted sample)."""
    tp = np.diag(confusion).astype(float)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of samples whose predicted label equals the true one (NaN for none).

    Parameters
    ----------
    y_true, y_pred : np.ndarray
        True and predicted labels, shape ``(N,)``.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


def cluster_purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    """Sum over clusters of the count of its most frequent true class, divided by the sample count."""
    labels_true, clusters = np.asarray(labels_true, int), np.asarray(clusters, int)
    if not len(labels_true):
        return float("nan")
    total = 0
    for c in np.unique(clusters):
        total += np.bincount(labels_true[clusters == c]).max()
    return float(total / len(labels_true))


def kmeans_purity(features: np.ndarray, labels_true: np.ndarray, k: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """k-means (k-means++ start, seeded) on ``features`` (N, d); returns (purity, cluster of each sample)."""
    features = np.asarray(features, dtype=np.float64)
    k = max(1, min(k, len(np.unique(features.round(6), axis=0))))  # k-means++ needs k distinct points
    if k == 1:
        return cluster_purity(labels_true, np.zeros(len(features), int)), np.zeros(len(features), int)
    _, clusters = kmeans2(features, k, minit="++", seed=np.random.default_rng(seed), iter=50)
    return cluster_purity(labels_true, clusters), clusters
