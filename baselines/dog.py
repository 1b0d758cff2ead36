"""Difference-of-Gaussians particle picker (Voss et al. 2009; multi-ball packing paper, seed 000).

``tomobench baseline dog --data PUBLIC --out SUBMISSION``. The tomogram is
filtered with ``G(sigma1) - G(sigma2)``, ``sigma2 = 1.1 * sigma1`` by default;
local maxima (minima for dark particles) at least ``min_distance_vox`` apart
(Chebyshev distance) are candidates; they are kept above the paper's threshold
``T = m + t * (M - m) / 20`` (``m``, ``M``: smallest and largest peak value) or
as the top N. Picks are class ``unknown``; optionally each pick is given the
class whose radius best matches its strongest DoG scale. ``sigma1`` and ``t``
come from a small grid search on the training split scored with the project's
scorer, as a participant would tune them.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd
from scipy import ndimage
from tqdm import tqdm

from baselines.params_io import load_method_params
from baselines.public_data import (
    data_sign,
    particle_densities,
    public_classes,
    split_tomograms,
    write_submission,
    write_timing,
)
from tomobench.classes import UNKNOWN_CLASS, ClassTable
from tomobench.errors import InputError
from tomobench.groundtruth import GroundTruth, load_truths
from tomobench.params import Params
from tomobench.particles import make_particles
from tomobench.plugins import scorer

Truth = Path | dict[str, GroundTruth]      # what the scorer accepts: a truth folder or loaded truths
Objective = Callable[[pd.DataFrame, Truth], float]


class DogParams(Params):
    """``baselines.dog`` of params.yaml. Lengths in voxels of the tomogram."""

    sigma1_vox: float | None = None          # None: median effective class radius / sqrt(3)
    sigma_ratio: float = 1.1                 # sigma2 / sigma1
    threshold_t: float = 5.0                 # t of T = m + t (M - m) / 20
    mode: Literal["threshold", "top_n"] = "threshold"
    top_n: int | None = None                 # top_n mode; None: expected count from the training split
    min_distance_vox: float | None = None    # None: max(sqrt(3) sigma1, median effective radius)
    polarity: Literal["auto", "bright", "dark"] = "auto"   # auto: measured on the training split
    classify_by_size: bool = False
    grid_search: bool = True
    grid_sigma_factors: list[float] = [0.5, 0.7, 1.0, 1.4, 2.0]  # times the default sigma1
    grid_t: list[float] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0]


# --------------------------------------------------------------------------- pure functions

def dog_filter(volume: np.ndarray, sigma1_vox: float, ratio: float = 1.1) -> np.ndarray:
    """``G(sigma1) * V - G(ratio * sigma1) * V`` (float32); bright blobs of radius ~sqrt(3) sigma1 peak."""
    if sigma1_vox <= 0 or ratio <= 1:
        raise ValueError("dog_filter: sigma1_vox > 0 and ratio > 1 are required")
    volume = np.asarray(volume, dtype=np.float32)
    return (ndimage.gaussian_filter(volume, sigma1_vox, mode="nearest")
            - ndimage.gaussian_filter(volume, ratio * sigma1_vox, mode="nearest"))


def local_peaks(response: np.ndarray, min_distance_vox: float) -> tuple[np.ndarray, np.ndarray]:
    """Local maxima of ``response`` in a cube of half-width ``ceil(min_distance_vox)``.

    Returns ``(zyx (n, 3) int, values (n,))`` sorted by decreasing value. Two peaks
    are more than ``min_distance_vox`` apart along at least one axis.
    """
    half = max(1, int(math.ceil(min_distance_vox)))
    maxed = ndimage.maximum_filter(response, size=2 * half + 1, mode="constant", cval=-np.inf)
    zyx = np.argwhere(response >= maxed)
    values = response[tuple(zyx.T)]
    order = np.argsort(-values, kind="stable")
    return zyx[order], values[order]


def dog_threshold(values: np.ndarray, t: float) -> float:
    """The threshold of the paper: ``T = m + t * (M - m) / 20`` over the peak values."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return math.inf
    m, big_m = float(values.min()), float(values.max())
    return m + t * (big_m - m) / 20.0


def select_peaks(values: np.ndarray, *, t: float | None = None, top_n: int | None = None) -> np.ndarray:
    """Indices of the kept peaks (``values`` sorted descending): above the threshold, or the top N."""
    if top_n is not None:
        return np.arange(min(int(top_n), len(values)))
    return np.flatnonzero(np.asarray(values) >= dog_threshold(values, 5.0 if t is None else t))


def size_class_guess(volume: np.ndarray, zyx: np.ndarray, radii_vox: dict[str, float], *, ratio: float = 1.1,
                     sign: float = 1.0) -> list[str]:
    """For each pick the class whose radius gives the strongest DoG response there.

    A DoG with ratio ``k`` approximates ``(k - 1) sigma^2`` times the Laplacian of
    Gaussian, i.e. it is already scale-normalised, so responses at different
    ``sigma = r / sqrt(3)`` compare directly.
    """
    if len(zyx) == 0:
        return []
    names = list(radii_vox)
    responses = np.stack([sign * dog_filter(volume, max(radii_vox[n], 0.6) / math.sqrt(3), ratio)[tuple(zyx.T)]
                          for n in names])
    return [names[i] for i in np.argmax(responses, axis=0)]


def pick_volume(volume: np.ndarray, sigma1_vox: float, *, ratio: float, sign: float, min_distance_vox: float,
                t: float | None = None, top_n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """DoG picks of one tomogram: ``(zyx (n, 3), scores (n,))``, strongest first."""
    zyx, values = local_peaks(sign * dog_filter(volume, sigma1_vox, ratio), min_distance_vox)
    keep = select_peaks(values, t=t, top_n=top_n)
    return zyx[keep], values[keep]


def grid_search(candidates: dict[float, dict[str, tuple[np.ndarray, np.ndarray]]], t_values: list[float],
                truth: Truth, objective: Objective) -> tuple[float, float, pd.DataFrame]:
    """Best ``(sigma1, t)`` over precomputed peaks ``{sigma1: {tomo: (zyx, values)}}``.

    ``objective(picks, truth)`` scores a multi-tomogram pick list (higher is
    better); ``truth`` is passed through unchanged (best loaded once, see
    :func:`tomobench.groundtruth.load_truths`). Returns ``(sigma1, t, table of all trials)``.
    """
    rows = []
    for sigma1, per_tomo in candidates.items():
        for t in t_values:
            frames = []
            for tomo, (zyx, values) in per_tomo.items():
                keep = select_peaks(values, t=t)
                frames.append(_to_particles(zyx[keep], values[keep], tomo))
            picks = pd.concat(frames, ignore_index=True)
            value = objective(picks, truth) if len(picks) else 0.0
            rows.append({"sigma1_vox": sigma1, "t": t, "n_picks": len(picks), "objective": float(value)})
    table = pd.DataFrame(rows)
    best = table.sort_values(["objective", "t"], ascending=[False, False]).iloc[0]
    return float(best["sigma1_vox"]), float(best["t"]), table


def _to_particles(zyx: np.ndarray, scores: np.ndarray, tomo: str, classes: list[str] | None = None) -> pd.DataFrame:
    classes = [UNKNOWN_CLASS] * len(zyx) if classes is None else classes
    return make_particles(classes, np.asarray(zyx, dtype=float)[:, ::-1].reshape(-1, 3), score=scores,
                          tomo=[tomo] * len(zyx))


def class_radii_vox(classes: ClassTable, voxel_size_a: float) -> dict[str, float]:
    """Effective radius in voxels of each scored class.

    Scored classes -> effective radius in voxels (``eff_radius_nm``, the sphere of equal volume;
    else ``radius_nm``): a DoG responds to a particle's bulk, not to its farthest atom.
    """
    table = classes.table[classes.table["scored"]]
    out = {}
    for _, row in table.iterrows():
        radius_nm = row["eff_radius_nm"] if np.isfinite(row["eff_radius_nm"]) else row["radius_nm"]
        if np.isfinite(radius_nm):
            out[row["class_name"]] = float(radius_nm) * 10.0 / voxel_size_a
    return out


def scorer_objective() -> Objective:
    """Localization F1 of the project's scorer (found once through :mod:`tomobench.plugins`, not imported)."""
    score = scorer()
    return lambda picks, truth: float(score(picks, truth)["f1"])


# --------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``tomobench baseline dog`` to ``parser``."""
    parser.add_argument("--params", help="params.yaml with a baselines.dog section (else defaults)")
    parser.add_argument("--sigma1", type=float, help="sigma1 in voxels (skips the grid search)")
    parser.add_argument("--threshold-t", type=float, help="t of the threshold (skips the grid search)")
    parser.add_argument("--top-n", type=int, help="keep the N strongest peaks per tomogram")
    parser.add_argument("--no-grid-search", action="store_true", help="use the parameters as given")
    parser.add_argument("--classify-by-size", action="store_true", help="guess the class from the best DoG scale")
    parser.add_argument("--shrec", action="store_true", help="also write one SHREC text file per tomogram")


def run(args: argparse.Namespace, objective: Objective | None = None) -> int:
    """Run the DoG baseline (grid search unless parameters are given); returns the exit code."""
    start = time.perf_counter()
    params, tune = _params_from_args(args)
    public = Path(args.data)
    classes = public_classes(public)
    train, test = split_tomograms(public, "train"), split_tomograms(public, "test")
    train = [t for t in train if t.has_truth]
    voxel_size_a = test[0].header()[1] or 10.0
    radii = class_radii_vox(classes, voxel_size_a)
    if not radii:
        raise InputError("no scored class has a radius_nm; the DoG scale cannot be set", public / "classes.csv")
    typical_radius = float(np.median(list(radii.values())))
    default_sigma = typical_radius / math.sqrt(3)
    sign = {"bright": 1.0, "dark": -1.0}.get(params.polarity) or data_sign(train)

    train_s, trials = 0.0, None
    if tune and train:
        t0 = time.perf_counter()
        trials = _grid_search_on_train(train, params, default_sigma, typical_radius, sign, public,
                                       objective or scorer_objective())
        train_s = time.perf_counter() - t0
    sigma1 = params.sigma1_vox or default_sigma
    min_dist = params.min_distance_vox or max(math.sqrt(3) * sigma1, typical_radius)
    density: dict[str, float] = {}
    if params.mode == "top_n" and params.top_n is None:
        density = particle_densities(train, classes.scored_names)
        if not density:
            raise InputError("top_n mode needs top_n or a training split with ground truth", public)

    t0, frames, voxels = time.perf_counter(), [], 0
    for tomo in tqdm(test, desc="dog picking", unit="tomo"):
        volume, _ = tomo.reconstruction()
        voxels += volume.size
        zyx, scores = pick_volume(volume, sigma1, ratio=params.sigma_ratio, sign=sign, min_distance_vox=min_dist,
                                  t=params.threshold_t, top_n=None if params.mode != "top_n" else
                                  params.top_n or int(round(sum(density.values()) * volume.size)))
        names = size_class_guess(volume, zyx, radii, ratio=params.sigma_ratio, sign=sign) \
            if params.classify_by_size else None
        frames.append(_to_particles(zyx, scores, tomo.name, names))
    picks = pd.concat(frames, ignore_index=True)
    infer_s = time.perf_counter() - t0
    write_submission(picks, args.out, shrec=args.shrec)
    write_timing(args.out, {
        "method": "dog", "wall_s": time.perf_counter() - start, "train_s": train_s, "infer_s": infer_s,
        "device": "cpu", "n_rotations": None, "voxels": voxels, "n_picks": len(picks),
        "params": params.model_dump(), "sign": sign,
        "grid": None if trials is None else trials.to_dict(orient="records")})
    if trials is not None:
        print(f"dog grid search: sigma1 = {params.sigma1_vox:.3g} voxels, t = {params.threshold_t:g} "
              f"(F1 {trials['objective'].max():.3f} on the training split)")
    print(f"dog: {len(picks)} picks in {len(test)} test tomogram(s) -> {args.out}")
    return 0


def _params_from_args(args: argparse.Namespace) -> tuple[DogParams, bool]:
    """``baselines.dog`` of the params file with the command-line overrides; and whether to grid-search."""
    params = load_method_params(DogParams, "dog", args.params, {})
    if args.sigma1 is not None:
        params.sigma1_vox = args.sigma1
    if args.threshold_t is not None:
        params.threshold_t = args.threshold_t
    if args.top_n is not None:
        params.mode, params.top_n = "top_n", args.top_n
    if args.classify_by_size:
        params.classify_by_size = True
    tune = params.grid_search and not args.no_grid_search and args.sigma1 is None and args.threshold_t is None \
        and params.mode == "threshold"
    return params, tune


def _grid_search_on_train(train: list, params: DogParams, default_sigma: float, typical_radius: float, sign: float,
                          public: Path, objective: Objective) -> pd.DataFrame:
    """Pick ``sigma1`` and the threshold on the training split; sets them on ``params``, returns the trials."""
    sigmas = [default_sigma * f for f in params.grid_sigma_factors]
    candidates: dict[float, dict] = {sigma1: {} for sigma1 in sigmas}
    for tomo in tqdm(train, desc="dog grid search", unit="tomo"):
        volume = tomo.reconstruction()[0]     # read once, filtered at every sigma
        for sigma1 in sigmas:
            min_dist = params.min_distance_vox or max(math.sqrt(3) * sigma1, typical_radius)
            candidates[sigma1][tomo.name] = local_peaks(sign * dog_filter(volume, sigma1, params.sigma_ratio),
                                                        min_dist)
    sigma1, t, trials = grid_search(candidates, params.grid_t, load_truths(public / "train"), objective)
    params.sigma1_vox, params.threshold_t = sigma1, t
    return trials
