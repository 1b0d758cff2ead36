"""Training data of the learned baselines: a public dataset folder read as inputs and per-voxel targets.

Layout (contracts.md): ``PUBLIC/classes.csv``, ``PUBLIC/train/<tomo>/`` with
``reconstruction.mrc``, ``class_mask.mrc``, ``occupancy_mask.mrc``,
``particle_locations.txt``; ``PUBLIC/test/<tomo>/reconstruction.mrc``;
``PUBLIC/structures/`` (the structure library). Nothing of the private split is read.

The learned models predict *targets*: index 0 is background and ``1..K`` are
the scored protein classes in label order. Non-particle classes (membrane,
vesicle, filament, fiducial) and unscored classes map to background, so the
networks learn to reject them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from baselines.public_data import ACQUISITION_JSON, public_templates, read_acquisition
from baselines.template_matching.templates import resample
from tomobench.classes import ClassTable, read_classes
from tomobench.errors import InputError
from tomobench.groundtruth import CLASS_MASK, CLASSES_CSV, OCCUPANCY_MASK, PARTICLE_LOCATIONS, RECONSTRUCTION
from tomobench.particles import read_particles
from tomobench.volumes import read_volume


@dataclass
class TrainTomogram:
    """One training tomogram: normalised reconstruction, target map and particles."""

    name: str
    volume: np.ndarray      # [z, y, x] float32, zero mean, unit std
    target: np.ndarray      # [z, y, x] uint8 target index (0 background, 1..K classes)
    particles: pd.DataFrame  # PICK_COLUMNS + 'id' (1-based line) + 'target'; only scored classes
    voxel_size_a: float
    occupancy: np.ndarray | None = None  # [z, y, x] particle ids when occupancy_mask.mrc is there


def normalise(volume: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation (float32); a constant volume becomes zeros."""
    volume = np.asarray(volume, dtype=np.float32)
    std = float(volume.std())
    return ((volume - float(volume.mean())) / (std if std > 0 else 1.0)).astype(np.float32)


class PublicDataset:
    """The public folder, validated on opening."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputError("public dataset folder not found (expected data/public with train/ and test/)",
                             self.folder)
        self.classes: ClassTable = read_classes(self.folder / CLASSES_CSV)
        scored = self.classes.table[self.classes.table["scored"]].sort_values("label")
        if scored.empty:
            raise InputError("classes.csv marks no class as scored; nothing to learn", self.folder / CLASSES_CSV)
        #: target index -> class name (index 0 = background)
        self.target_names: list[str] = ["background"] + list(scored["class_name"])
        self._label_to_target = {int(label): i + 1 for i, label in enumerate(scored["label"])}

    # ------------------------------------------------------------------ folders
    def split_folders(self, split: str, *, need: tuple[str, ...]) -> list[Path]:
        """Tomogram folders of ``split``, each checked to hold the files in ``need``."""
        root = self.folder / split
        if not root.is_dir():
            raise InputError(f"no {split}/ folder in the public dataset", self.folder)
        folders = [f for f in sorted(root.iterdir()) if f.is_dir()]
        if not folders:
            raise InputError(f"{split}/ holds no tomogram folders", root)
        for f in folders:
            for name in need:
                if not (f / name).is_file():
                    raise InputError(f"{name} is missing from a {split} tomogram folder", f)
        return folders

    def train_folders(self) -> list[Path]:
        """Folders of the training tomograms (reconstruction, class mask and particles)."""
        return self.split_folders("train", need=(RECONSTRUCTION, CLASS_MASK, PARTICLE_LOCATIONS))

    def test_folders(self) -> list[Path]:
        """Folders of the test tomograms (reconstruction)."""
        return self.split_folders("test", need=(RECONSTRUCTION,))

    # ------------------------------------------------------------------ content
    @property
    def n_targets(self) -> int:
        """Number of target indices, background (0) included."""
        return len(self.target_names)

    def label_lut(self, max_label: int) -> np.ndarray:
        """Lookup table class-mask label -> target index (unscored labels -> 0)."""
        lut = np.zeros(max(max_label, max(self._label_to_target, default=0)) + 1, dtype=np.uint8)
        for label, target in self._label_to_target.items():
            lut[label] = target
        return lut

    def load_train(self, folder: Path) -> TrainTomogram:
        """A training tomogram of ``folder``: normalised volume, targets and particles."""
        volume, voxel_size_a = read_volume(folder / RECONSTRUCTION)
        mask, _ = read_volume(folder / CLASS_MASK)
        if mask.shape != volume.shape:
            raise InputError(f"class_mask.mrc has shape {mask.shape} but the reconstruction {volume.shape}; "
                             "both must share the voxel grid", folder)
        mask = np.asarray(mask).astype(np.int64)
        if mask.min() < 0:
            raise InputError("class_mask.mrc holds negative labels", folder / CLASS_MASK)
        target = self.label_lut(int(mask.max()))[mask]
        particles = read_particles(folder / PARTICLE_LOCATIONS, "shrec")
        particles["id"] = np.arange(1, len(particles) + 1)
        keep = particles["class"].isin(self.target_names[1:])
        particles = particles[keep].reset_index(drop=True)
        particles["target"] = [self.target_names.index(c) for c in particles["class"]]
        occupancy = None
        if (folder / OCCUPANCY_MASK).is_file():
            occ, _ = read_volume(folder / OCCUPANCY_MASK)
            if occ.shape == volume.shape:
                occupancy = np.asarray(occ).astype(np.int64)
        return TrainTomogram(folder.name, normalise(volume), target, particles, voxel_size_a, occupancy)

    def templates_at(self, voxel_size_a: float) -> dict[str, np.ndarray]:
        """The scored classes' templates ``structures/<class>.mrc`` resampled to ``voxel_size_a`` (Å)."""
        raw, template_voxel_a = public_templates(self.folder, self.target_names[1:])
        if not raw:
            raise InputError("no template structures/<class>.mrc of a scored class; pasting particles needs them",
                             self.folder / "structures")
        factor = voxel_size_a / template_voxel_a
        return {n: resample(t, factor) if abs(factor - 1.0) > 1e-3 else t for n, t in raw.items()}

    def tilt_range(self, split: str, name: str) -> dict[str, float]:
        """``tilt_min_deg``, ``tilt_max_deg`` and ``tilt_axis_deg`` of a tomogram's ``acquisition.json``."""
        acq = read_acquisition(self.folder / split / name / ACQUISITION_JSON)
        tilts = np.asarray(acq["tilt_angles_deg"], float)
        axis = acq.get("reconstruction_tilt_axis_deg", acq.get("tilt_axis_deg", 0.0))
        return {"tilt_min_deg": float(tilts.min()), "tilt_max_deg": float(tilts.max()), "tilt_axis_deg": float(axis)}

    def load_test(self, folder: Path) -> tuple[np.ndarray, float]:
        """A test tomogram of ``folder``: the normalised volume ``(z, y, x)`` and its voxel size in Å."""
        volume, voxel_size_a = read_volume(folder / RECONSTRUCTION)
        return normalise(volume), voxel_size_a


def split_train_val(names: list[str], n_val: int = 1) -> tuple[list[int], list[int]]:
    """Indices of training and validation tomograms: the last ``n_val`` are held out (none if only one)."""
    n = len(names)
    if n <= 1 or n_val <= 0:
        return list(range(n)), []
    n_val = min(n_val, n - 1)
    return list(range(n - n_val)), list(range(n - n_val, n))


def particle_voxel_counts(tomos: list[TrainTomogram]) -> dict[str, list[int]]:
    """Voxel counts of the training particles of each class.

    Class name -> voxel counts of its training particles (from the occupancy maps; particles
    whose map is absent are skipped).
    """
    out: dict[str, list[int]] = {}
    for t in tomos:
        if t.occupancy is None or t.particles.empty:
            continue
        counts = np.bincount(t.occupancy.ravel(), minlength=int(t.particles["id"].max()) + 1)
        for name, pid in zip(t.particles["class"], t.particles["id"]):
            if counts[pid] > 0:
                out.setdefault(name, []).append(int(counts[pid]))
    return out


def target_radii_vox(data: PublicDataset, voxel_size_a: float,
                     voxel_counts: dict[str, list[int]] | None = None, default_vox: float = 3.0) -> np.ndarray:
    """Radius in voxels of each target index.

    Background (index 0) gets 0; a class gets ``radius_nm`` of ``classes.csv``; where it
    is missing, the radius of a ball of the median training voxel count; else ``default_vox``.
    """
    table = data.classes.table.set_index("class_name")
    radii_nm = table["radius_nm"].astype(float) if "radius_nm" in table.columns else None
    out = np.zeros(data.n_targets)
    for i, name in enumerate(data.target_names[1:], start=1):
        radius_nm = float(radii_nm[name]) if radii_nm is not None else float("nan")
        if np.isfinite(radius_nm) and radius_nm > 0:
            out[i] = radius_nm * 10.0 / voxel_size_a
        elif voxel_counts and voxel_counts.get(name):
            out[i] = (3 * float(np.median(voxel_counts[name])) / (4 * np.pi)) ** (1 / 3)
        else:
            out[i] = default_vox
    return out
