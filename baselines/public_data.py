"""Reading a public dataset folder the way a participant does, and writing submissions.

Layout (contracts.md)::

    PUBLIC/classes.csv
    PUBLIC/structures/            classes.csv, <class>.mrc templates, balls/
    PUBLIC/train/<tomo>/          reconstruction.mrc + full ground truth
    PUBLIC/test/<tomo>/           reconstruction.mrc, acquisition.json (+ tilt series)

Nothing here ever looks outside ``PUBLIC`` (no private test truth).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from tomobench.classes import ClassTable, read_classes
from tomobench.errors import InputError
from tomobench.groundtruth import CLASSES_CSV, PARTICLE_LOCATIONS, RECONSTRUCTION
from tomobench.particles import read_particles, write_particles
from tomobench.volumes import read_volume

ACQUISITION_JSON = "acquisition.json"
ACQUISITION_KEYS = ("voltage_kv", "cs_mm", "amplitude_contrast", "defocus_um", "tilt_angles_deg", "voxel_size_a")


@dataclass
class Tomogram:
    """One tomogram of a split: its name, folder and (lazily read) reconstruction."""

    name: str
    folder: Path

    @property
    def has_truth(self) -> bool:
        """True when the tomogram's folder holds its particle locations."""
        return (self.folder / PARTICLE_LOCATIONS).is_file()

    def reconstruction(self) -> tuple[np.ndarray, float]:
        """``(volume[z, y, x] float32, voxel_size_a)``."""
        volume, voxel_size_a = read_volume(self.folder / RECONSTRUCTION)
        return np.asarray(volume, dtype=np.float32), voxel_size_a

    def header(self) -> tuple[tuple[int, ...], float]:
        """``(shape [z, y, x], voxel_size_a)`` of the reconstruction, without reading its voxels (memory map)."""
        volume, voxel_size_a = read_volume(self.folder / RECONSTRUCTION, mmap=True)
        return volume.shape, voxel_size_a

    def truth(self) -> pd.DataFrame:
        """The ground-truth particles (the SHREC particle list of the folder)."""
        return read_particles(self.folder / PARTICLE_LOCATIONS, "shrec")

    def acquisition(self) -> dict[str, Any]:
        """The acquisition parameters of the tomogram (``acquisition.json``)."""
        return read_acquisition(self.folder / ACQUISITION_JSON)


def public_classes(public: str | Path) -> ClassTable:
    """The class table of a public dataset folder (``classes.csv`` or ``structures/classes.csv``)."""
    public = Path(public)
    for candidate in (public / CLASSES_CSV, public / "structures" / CLASSES_CSV):
        if candidate.is_file():
            return read_classes(candidate)
    raise InputError("no classes.csv in the public folder (nor in structures/); is this data/public?", public)


def public_templates(public: str | Path, names: list[str]) -> tuple[dict[str, np.ndarray], float]:
    """Templates ``structures/<class>.mrc`` of the named classes that have one, and their voxel size (Å)."""
    folder = Path(public) / "structures"
    templates, sizes = {}, set()
    for name in names:
        path = folder / f"{name}.mrc"
        if path.is_file():
            templates[name], voxel_size_a = read_volume(path)
            sizes.add(round(voxel_size_a, 4))
    if len(sizes) > 1:
        raise InputError(f"templates have different voxel sizes {sorted(sizes)}", folder)
    return templates, (sizes.pop() if sizes else float("nan"))


def split_tomograms(public: str | Path, split: str) -> list[Tomogram]:
    """The tomograms of ``split`` (``train`` or ``test``), sorted by name."""
    folder = Path(public) / split
    if not folder.is_dir():
        raise InputError(f"the public dataset has no {split}/ folder", Path(public))
    tomos = [Tomogram(sub.name, sub) for sub in sorted(folder.iterdir())
             if sub.is_dir() and (sub / RECONSTRUCTION).is_file()]
    if not tomos and split == "test":
        raise InputError(f"no {split}/<tomo>/{RECONSTRUCTION} found", folder)
    return tomos


def read_acquisition(path: str | Path) -> dict[str, Any]:
    """Read ``acquisition.json`` and check the keys a baseline needs."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{ACQUISITION_JSON} not found; each test tomogram needs its acquisition parameters", path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path, exc.lineno) from None
    missing = [k for k in ACQUISITION_KEYS if k not in doc]
    if missing:
        raise InputError(f"lacks the key(s) {missing}", path)
    if not doc["tilt_angles_deg"]:
        raise InputError("tilt_angles_deg is empty", path)
    return doc


def particle_densities(train: list[Tomogram], scored: list[str]) -> dict[str, float]:
    """Particles per voxel of each scored class over the training tomograms.

    Particles of each scored class per voxel of reconstruction over training tomograms with
    ground truth (callers filter on :attr:`Tomogram.has_truth`); {} for none.
    """
    counts: dict[str, int] = {name: 0 for name in scored}
    voxels = 0
    for tomo in train:
        for name, n in tomo.truth()["class"].value_counts().items():
            if name in counts:
                counts[name] += int(n)
        voxels += int(np.prod(tomo.header()[0]))
    return {name: n / voxels for name, n in counts.items()} if voxels else {}


def data_sign(tomos: list[Tomogram]) -> float:
    """+1 when particles are brighter than their surroundings in the training reconstructions, else -1.

    ``tomos`` are training tomograms with ground truth (callers filter on :attr:`Tomogram.has_truth`).
    """
    diffs = []
    for tomo in tomos:
        volume, _ = tomo.reconstruction()
        truth = tomo.truth()
        zyx = np.rint(truth[["z", "y", "x"]].to_numpy()).astype(int)
        zyx = np.clip(zyx, 0, np.array(volume.shape) - 1)
        smooth = ndimage.gaussian_filter(volume, 1.5)
        diffs.append(float(smooth[tuple(zyx.T)].mean() - smooth.mean()))
    if not diffs:
        return -1.0   # cryo-ET convention: protein is dark in an unprocessed reconstruction
    return 1.0 if np.mean(diffs) >= 0 else -1.0


def write_submission(picks: pd.DataFrame, out: str | Path, *, shrec: bool = False) -> list[Path]:
    """Write the CSV (or ``.txt``) submission; with ``shrec`` also one SHREC text per tomogram."""
    out = Path(out)
    written = [write_particles(picks, out)]
    if shrec:
        for tomo, group in picks.groupby("tomo", sort=True):
            name = str(tomo or "tomo")
            written.append(write_particles(group, out.with_name(f"{out.stem}.{name}.txt"), "shrec"))
    return written


def write_timing(out: str | Path, record: dict[str, Any]) -> Path:
    """``<out stem>.timing.json`` beside the submission (contracts.md keys + extras)."""
    out = Path(out)
    path = out.with_name(out.stem + ".timing.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=float) + "\n", encoding="utf-8")
    return path
