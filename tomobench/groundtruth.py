"""Ground-truth folders: the files of one simulated tomogram (docs/conventions.md).

A ground-truth folder holds ``particle_locations.txt`` and ``occupancy_mask.mrc``
(and usually ``class_mask.mrc``, ``grandmodel.mrc``, ``particles.parquet``).
A *split* folder holds one such folder per tomogram. The class table is the
folder's own ``classes.csv`` or the nearest one above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.classes import ClassTable, read_classes
from tomobench.errors import InputError
from tomobench.particles import read_particles
from tomobench.volumes import read_volume

# File names of docs/conventions.md ("Ground truth of one tomogram"), in one place.
GRANDMODEL = "grandmodel.mrc"
CLASS_MASK = "class_mask.mrc"
OCCUPANCY_MASK = "occupancy_mask.mrc"
PARTICLE_LOCATIONS = "particle_locations.txt"
PARTICLES_PARQUET = "particles.parquet"
RECONSTRUCTION = "reconstruction.mrc"
PROJECTIONS = "projections.mrc"
TILT_ANGLES = "tilt_angles.txt"
CLASSES_CSV = "classes.csv"


@dataclass
class GroundTruth:
    """One tomogram's truth: particles (1-based id = row + 1) and the occupancy map."""

    name: str
    folder: Path
    particles: pd.DataFrame       # PICK_COLUMNS, in particle_locations.txt order
    occupancy: np.ndarray         # [z, y, x] particle ids (integer-valued), 0 = background
    voxel_size_a: float
    classes: ClassTable | None


def is_truth_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a tomogram's ground truth (its ``particle_locations.txt``)."""
    return (folder / PARTICLE_LOCATIONS).is_file()


def find_truth_folders(folder: str | Path) -> dict[str, Path]:
    """Tomogram name -> truth folder, for one truth folder or a split folder holding several."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("truth folder not found; give a tomogram's ground-truth folder or a split folder", folder)
    if is_truth_folder(folder):
        return {folder.name: folder}
    found = {sub.name: sub for sub in sorted(folder.iterdir()) if sub.is_dir() and is_truth_folder(sub)}
    if not found:
        raise InputError(f"no {PARTICLE_LOCATIONS} here or in any subfolder; is this a ground-truth folder?", folder)
    return found


def find_classes_csv(folder: str | Path, levels: int = 3) -> Path | None:
    """The nearest ``classes.csv`` in ``folder`` or up to ``levels`` folders above it."""
    folder = Path(folder).resolve()
    for candidate in [folder, *folder.parents][: levels + 1]:
        if (candidate / CLASSES_CSV).is_file():
            return candidate / CLASSES_CSV
    return None


def load_truth(folder: str | Path, classes: ClassTable | None = None) -> GroundTruth:
    """Read and check one tomogram's ground truth (particle list against occupancy map).

    Parameters
    ----------
    folder : str or Path
        The ground-truth folder (``particle_locations.txt``, ``occupancy_mask.mrc``).
    classes : ClassTable, optional
        The class table; the nearest ``classes.csv`` when None (None if there is none).

    Returns
    -------
    GroundTruth
        Particles (x, y, z in voxels, ZXZ degrees or NaN), occupancy (Z, Y, X) ids in the stored dtype,
        voxel size in Å.

    Raises
    ------
    InputError
        When the mask is missing, its ids are not integers or exceed the list, or a particle lies
        outside it.
    """
    folder = Path(folder)
    particles = read_particles(folder / PARTICLE_LOCATIONS, "shrec")
    mask_path = folder / OCCUPANCY_MASK
    if not mask_path.is_file():
        raise InputError(f"{OCCUPANCY_MASK} is missing; scoring needs the occupancy mask beside "
                         f"{PARTICLE_LOCATIONS}", folder)
    occupancy, voxel_size_a = read_volume(mask_path)
    occupancy = np.asarray(occupancy)
    if np.issubdtype(occupancy.dtype, np.floating) and not np.all(np.mod(occupancy, 1) == 0):
        raise InputError("occupancy ids must be integers", mask_path)
    # Kept in its stored dtype (uint16 for SHREC sizes): a 512x512x200 int64 copy would cost 400 MB.
    n = len(particles)
    if occupancy.min() < 0 or occupancy.max() > n:
        raise InputError(f"the mask holds particle id {occupancy.max()} but {PARTICLE_LOCATIONS} lists only {n} "
                         f"particles; mask and list do not belong together", mask_path)
    shape_xyz = np.array(occupancy.shape[::-1])
    xyz = particles[["x", "y", "z"]].to_numpy()
    outside = ((xyz < -0.5) | (xyz > shape_xyz - 0.5)).any(axis=1)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(f"particle {i + 1} at {xyz[i].tolist()} lies outside the mask of shape (x, y, z) = "
                         f"{shape_xyz.tolist()}; mask and particle list do not match", mask_path)
    if classes is None:
        csv_path = find_classes_csv(folder)
        classes = read_classes(csv_path) if csv_path else None
    return GroundTruth(folder.name, folder, particles, occupancy, voxel_size_a, classes)


def load_truths(truth: str | Path | dict[str, GroundTruth]) -> dict[str, GroundTruth]:
    """Tomogram name -> ground truth, from a truth folder or a split folder.

    Every tomogram gets one class table, the nearest ``classes.csv``; a dict (already loaded) is
    returned as it is.

    Parameters
    ----------
    truth : str, Path or dict of str to GroundTruth
        A tomogram's ground-truth folder, a split folder holding several, or the truths themselves.

    Returns
    -------
    dict of str to GroundTruth
        Tomogram name (the folder name) -> its checked ground truth.
    """
    if isinstance(truth, dict):
        return truth
    csv_path = find_classes_csv(truth)
    classes = read_classes(csv_path) if csv_path else None
    return {name: load_truth(folder, classes) for name, folder in find_truth_folders(truth).items()}
