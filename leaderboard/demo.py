"""A tiny synthetic dataset in the pipeline's layout, to try the leaderboard and to test it.

Spheres (one radius per class) placed without overlap in small volumes give
SHREC-style ground truth (occupancy mask, class mask, particle_locations.txt,
classes.csv) under ``<root>/private/test`` and ``<root>/public/train``; the
public test folders get only a noisy "reconstruction". :func:`make_picks`
perturbs the truth into a participant-like submission, and
:func:`write_results` scores such submissions with the real scorer into a
``results.parquet`` as the DVC pipeline writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from tomobench.classes import ClassTable, write_classes
from tomobench.groundtruth import CLASS_MASK, OCCUPANCY_MASK, PARTICLE_LOCATIONS, RECONSTRUCTION, find_truth_folders
from tomobench.particles import make_particles, read_particles, write_particles
from tomobench.volumes import label_dtype, read_volume, write_volume

DEMO_CLASSES = [
    # class_name, label, pdb_id, mass_kda, radius (voxels)
    ("1s3x", 1, "1S3X", 100.0, 2),
    ("3qm1", 2, "3QM1", 300.0, 3),
    ("4v94", 3, "4V94", 2400.0, 4),
]
VOXEL_SIZE_A = 10.0


def demo_classes() -> ClassTable:
    """The demo's class table (``DEMO_CLASSES``; radii in nm at ``VOXEL_SIZE_A`` Å per voxel)."""
    return ClassTable.from_records([
        {"class_name": n, "label": lab, "pdb_id": pdb, "mass_kda": m, "radius_nm": r * VOXEL_SIZE_A / 10,
         "eff_radius_nm": r * VOXEL_SIZE_A / 10} for n, lab, pdb, m, r in DEMO_CLASSES])


def _ball(radius: int) -> np.ndarray:
    g = np.arange(-radius, radius + 1)
    return (g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) <= radius ** 2


def make_tomogram(shape_zyx: tuple[int, int, int], n_particles: int, rng: np.random.Generator):
    """Non-overlapping spheres: (particles DataFrame, occupancy [z,y,x] ids, class mask [z,y,x] labels)."""
    occupancy = np.zeros(shape_zyx, dtype=np.int64)
    labels = np.zeros(shape_zyx, dtype=np.int64)
    rows: list[tuple] = []
    tries = 0
    shape = np.array(shape_zyx)
    while len(rows) < n_particles and tries < 200 * n_particles:
        tries += 1
        name, label, _, _, radius = DEMO_CLASSES[rng.integers(len(DEMO_CLASSES))]
        z, y, x = (rng.integers(radius + 1, n - radius - 1) for n in shape)
        sl = tuple(slice(c - radius - 1, c + radius + 2) for c in (z, y, x))
        if occupancy[sl].any():          # keep a one-voxel gap between particles
            continue
        ball = np.pad(_ball(radius), 1)
        pid = len(rows) + 1
        occupancy[sl][ball] = pid
        labels[sl][ball] = label
        rows.append((name, x, y, z, *rng.uniform([0, 0, 0], [360, 180, 360])))
    if len(rows) < n_particles:
        raise ValueError(f"could fit only {len(rows)} of {n_particles} particles in {shape_zyx}")
    classes = [r[0] for r in rows]
    particles = make_particles(classes, np.array([r[1:4] for r in rows], float), np.array([r[4:] for r in rows]))
    return particles, occupancy, labels


def make_dataset(root: str | Path, *, n_train: int = 1, n_test: int = 2, shape_zyx=(32, 32, 32),
                 n_particles: int = 6, seed: int = 0) -> Path:
    """Write ``root/public`` and ``root/private/test`` (see the module docstring); return ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = demo_classes()
    public, private = root / "public", root / "private" / "test"
    write_classes(classes, public / "classes.csv")
    write_classes(classes, private / "classes.csv")
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            name = f"tomo_{split}_{i:03d}" if split == "train" else f"tomo_{i:03d}"
            particles, occupancy, labels = make_tomogram(tuple(shape_zyx), n_particles, rng)
            density = ndimage.gaussian_filter((occupancy > 0).astype(np.float32), 1.0)
            recon = (density + rng.normal(0, 0.3, density.shape)).astype(np.float32)
            truth_dirs = [public / "train" / name] if split == "train" else [private / name]
            for folder in truth_dirs:
                write_particles(particles, folder / PARTICLE_LOCATIONS, "shrec")
                write_volume(folder / OCCUPANCY_MASK, occupancy.astype(label_dtype(int(occupancy.max()))),
                             VOXEL_SIZE_A)
                write_volume(folder / CLASS_MASK, labels.astype(np.uint8), VOXEL_SIZE_A)
                write_classes(classes, folder / "classes.csv")
            out = public / split / name
            write_volume(out / RECONSTRUCTION, recon, VOXEL_SIZE_A)
            (out / "acquisition.json").write_text(json.dumps({"voxel_size_a": VOXEL_SIZE_A}))
    (public / "README.md").write_text(
        "# tomobench demo dataset\n\nA tiny synthetic dataset (spheres) to try the leaderboard: "
        f"{n_train} training and {n_test} test tomograms of {tuple(shape_zyx)} voxels (z, y, x) at "
        f"{VOXEL_SIZE_A:g} Å, {len(DEMO_CLASSES)} classes.\n", encoding="utf-8")
    return root


def make_picks(truth_dir: str | Path, rng: np.random.Generator, *, recall: float = 0.8, wrong_class: float = 0.1,
               false_positives: float = 0.1, jitter: float = 0.5) -> pd.DataFrame:
    """A participant-like submission for every tomogram of ``truth_dir`` (with a ``tomo`` column)."""
    frames = []
    names = [c[0] for c in DEMO_CLASSES]
    for tomo, folder in find_truth_folders(truth_dir).items():
        truth = read_particles(folder / PARTICLE_LOCATIONS, "shrec")
        found = truth[rng.random(len(truth)) < recall].reset_index(drop=True)
        xyz = found[["x", "y", "z"]].to_numpy() + rng.uniform(-jitter, jitter, (len(found), 3))
        cls = [rng.choice(names) if rng.random() < wrong_class else c for c in found["class"]]
        n_fp = int(round(false_positives * len(truth)))
        hi = np.array(read_volume(folder / OCCUPANCY_MASK, mmap=True)[0].shape)[::-1] - 1
        fp_xyz = rng.uniform(0, 1, (n_fp, 3)) * hi
        frames.append(make_particles(cls + list(rng.choice(names, n_fp)), np.vstack([xyz, fp_xyz]),
                                     score=rng.random(len(cls) + n_fp), tomo=[tomo] * (len(cls) + n_fp)))
    return pd.concat(frames, ignore_index=True)


def write_results(root: str | Path, methods: dict[str, dict], *, dataset: str = "demo", seed: int = 1) -> Path:
    """Score one submission per method with the real scorer and write the pipeline's files.

    Writes ``root/submissions/<method>.csv``, ``.timing.json`` and ``root/results.parquet`` (the
    pipeline's table).

    Parameters
    ----------
    root : str or Path
        The demo folder (its truth under ``private/test``).
    methods : dict of str to dict
        Method name -> :func:`make_picks` keyword arguments.
    dataset : str
        The dataset version written in the table.
    seed : int
        Seed of the random picks and timings.

    Returns
    -------
    Path
        The results table written.
    """
    import scoring

    root = Path(root)
    rng = np.random.default_rng(seed)
    truth = root / "private" / "test"
    rows: list[dict] = []
    for method, kwargs in methods.items():
        picks = make_picks(truth, rng, **kwargs)
        sub = write_particles(picks, root / "submissions" / f"{method}.csv", "csv")
        timing = {"method": method, "wall_s": float(rng.uniform(1, 100)), "train_s": 0.0,
                  "infer_s": float(rng.uniform(1, 50)), "device": "cpu"}
        sub.with_suffix(".timing.json").write_text(json.dumps(timing))
        report = scoring.score_file(sub, truth)
        rows.append({"method": method, "is_baseline": True, "dataset": dataset, "phase": "final",
                     **scoring.flatten_report(report), "report_json": json.dumps(report),
                     "timing_json": json.dumps(timing)})
    out = root / "results.parquet"
    pd.DataFrame(rows).to_parquet(out, index=False)
    return out


def demo_params_yaml(root: str | Path, data_dir: str | Path | None = None, dataset: str = "demo", **extra) -> Path:
    """A ``params.yaml`` with a ``leaderboard`` section pointing at the demo dataset under ``root``."""
    import yaml

    root = Path(root).resolve()
    section = {"data_dir": str(Path(data_dir).resolve() if data_dir else root / "leaderboard"),
               "public_dir": str(root / "public"), "private_truth_dir": str(root / "private" / "test"),
               "results_path": str(root / "results.parquet"), "dataset": dataset, **extra}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump({"leaderboard": section}), encoding="utf-8")
    return path
