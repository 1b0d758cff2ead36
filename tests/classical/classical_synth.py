"""Synthetic volumes and a tiny public dataset for the classical-baseline tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.classes import ClassTable, write_classes
from tomobench.euler import matrix_to_euler, random_rotations
from tomobench.particles import make_particles, write_particles
from tomobench.rotate import rotate_volume
from tomobench.volumes import write_volume

VOXEL_A = 10.0


def blob_template(size: int, blobs: list[tuple[float, float, float, float, float]]) -> np.ndarray:
    """Sum of solid balls ``(dx, dy, dz, radius, amplitude)`` around the centre of a ``size^3`` box."""
    c = size // 2
    z, y, x = np.ogrid[:size, :size, :size]
    out = np.zeros((size,) * 3, np.float32)
    for dx, dy, dz, r, a in blobs:
        out += a * (((x - c - dx) ** 2 + (y - c - dy) ** 2 + (z - c - dz) ** 2) <= r * r)
    return out


def asymmetric_template(size: int = 21) -> np.ndarray:
    """A lumpy shape without rotational symmetry (orientation recoverable)."""
    return blob_template(size, [(0, 0, 0, 3, 1.0), (5, 0, 0, 2, 1.0), (0, 4, 0, 2.2, 0.8),
                                (0, 0, -4, 1.5, 0.6), (3, 3, 0, 1.2, 0.5)])


def plant(volume: np.ndarray, template: np.ndarray, zyx, amplitude: float = 1.0) -> None:
    """Add ``amplitude * template`` centred at ``zyx`` (clipped at the borders), in place."""
    n = template.shape[0]
    c = n // 2
    lo = np.array(zyx) - c
    src, dst = [], []
    for axis in range(3):
        a, b = max(lo[axis], 0), min(lo[axis] + n, volume.shape[axis])
        dst.append(slice(a, b))
        src.append(slice(a - lo[axis], b - lo[axis]))
    volume[tuple(dst)] += amplitude * template[tuple(src)]


def scatter_positions(shape, radii, rng, margin: int = 2, tries: int = 20000) -> list[np.ndarray]:
    """Non-overlapping centres ``zyx`` for balls of the given radii, away from the borders."""
    placed, out = [], []
    for r in radii:
        for _ in range(tries):
            p = np.array([rng.integers(int(r) + margin, s - int(r) - margin) for s in shape])
            if all(np.linalg.norm(p - q) > r + rq + 1 for q, rq in placed):
                placed.append((p, r))
                out.append(p)
                break
    return out


def make_public(root: Path, rng: np.random.Generator, *, shape=(40, 64, 64), n_per_class: int = 6,
                noise: float = 0.35, sign: float = -1.0, beads: int = 0, bead_amplitude: float = 4.0) -> Path:
    """A tiny public dataset: classes big (r 5) and small (r 3), one train and one test tomogram.

    ``beads`` > 0 adds that many gold beads per tomogram (a ball of radius 2, ``bead_amplitude``
    in the particles' sign; class ``fiducial`` of kind ``fiducial``, not scored, in the truth).
    """
    big = asymmetric_template(21)
    small = blob_template(13, [(0, 0, 0, 3, 1.0), (2, 0, 0, 1.5, 0.5)])
    templates = {"big": big, "small": small}
    radii = {"big": 6.0, "small": 3.5}
    classes = ClassTable.from_records([
        {"class_name": "big", "label": 1, "mass_kda": 900, "radius_nm": radii["big"] * VOXEL_A / 10},
        {"class_name": "small", "label": 2, "mass_kda": 150, "radius_nm": radii["small"] * VOXEL_A / 10}]
        + ([{"class_name": "fiducial", "label": 3, "kind": "fiducial"}] if beads else []))   # kind: not scored
    write_classes(classes, root / "classes.csv")
    write_classes(classes, root / "structures" / "classes.csv")
    for name, t in templates.items():
        write_volume(root / "structures" / f"{name}.mrc", t, VOXEL_A)
    acquisition = {"voltage_kv": 300.0, "cs_mm": 2.7, "amplitude_contrast": 0.08, "defocus_um": 3.0,
                   "tilt_angles_deg": list(np.arange(-60.0, 61.0, 3.0)), "tilt_axis_deg": 0.0,
                   "voxel_size_a": VOXEL_A, "dose_total_e_per_a2": 100.0, "snr": None, "phase_plate": False}
    for split, tomo in (("train", "tomo_000"), ("test", "tomo_001")):
        folder = root / split / tomo
        names = ["big"] * n_per_class + ["small"] * n_per_class + ["fiducial"] * beads
        centres = scatter_positions(shape, [radii.get(n, 3.0) for n in names], rng)
        rots = random_rotations(len(centres), rng)
        volume = rng.normal(0.0, noise, shape).astype(np.float32)
        occupancy = np.zeros(shape, np.uint8)
        class_mask = np.zeros(shape, np.uint8)
        for i, (name, p, rot) in enumerate(zip(names, centres, rots), start=1):
            if name == "fiducial":
                ball = (np.sum((np.indices(shape).T - np.asarray(p)).T ** 2, axis=0) <= 4.0)
                volume[ball] += np.float32(sign * bead_amplitude)
                occupancy[ball], class_mask[ball] = i, classes.label_of(name)
                continue
            turned = rotate_volume(templates[name], rot, order=1)
            plant(volume, turned, p, sign)
            label = np.zeros(shape, np.float32)
            plant(label, (turned > 0.3).astype(np.float32), p)
            occupancy[label > 0] = i
            class_mask[label > 0] = classes.label_of(name)
        write_volume(folder / "reconstruction.mrc", volume, VOXEL_A)
        (folder / "acquisition.json").write_text(json.dumps(acquisition))
        truth = make_particles(names[: len(centres)], np.array(centres)[:, ::-1], matrix_to_euler(rots))
        target = folder if split == "train" else root.parent / "private" / tomo
        write_particles(truth, target / "particle_locations.txt", "shrec")
        write_volume(target / "occupancy_mask.mrc", occupancy, VOXEL_A)
        write_volume(target / "class_mask.mrc", class_mask, VOXEL_A)
    return root


def distance_f1(picks: pd.DataFrame, truth: pd.DataFrame, radius: float) -> float:
    """Class-agnostic F1: a pick is a hit on the nearest unclaimed truth centre within ``radius``."""
    if not len(picks) or not len(truth):
        return 0.0
    t = truth[["x", "y", "z"]].to_numpy(float)
    claimed = np.zeros(len(t), bool)
    tp = 0
    for p in picks[["x", "y", "z"]].to_numpy(float):
        d = np.linalg.norm(t - p, axis=1)
        d[claimed] = np.inf
        j = int(np.argmin(d))
        if d[j] <= radius:
            claimed[j] = True
            tp += 1
    precision, recall = tp / len(picks), tp / len(t)
    return 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
