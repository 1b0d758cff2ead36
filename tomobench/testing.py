"""Small ground truths built in code, for tests and examples (like ``numpy.testing``).

:func:`write_sphere_truth` writes a complete ground-truth folder (docs/conventions.md) whose
particles are voxelised spheres, so every score can be computed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tomobench.classes import ClassTable, write_classes
from tomobench.groundtruth import CLASS_MASK, OCCUPANCY_MASK, PARTICLE_LOCATIONS
from tomobench.particles import make_particles, write_particles
from tomobench.volumes import label_dtype, write_volume


def sphere_occupancy(shape_zyx: tuple[int, int, int], centres_xyz, radii) -> np.ndarray:
    """Occupancy map: particle i+1 fills the voxels within ``radii[i]`` of ``centres_xyz[i]``.

    Later particles overwrite earlier ones where spheres overlap (tests use non-overlapping ones).

    Parameters
    ----------
    shape_zyx : tuple of int
        (Z, Y, X) the map's shape in voxels.
    centres_xyz : array_like
        (N, 3) sphere centres x, y, z in voxels.
    radii : array_like
        (N,) sphere radii in voxels (a voxel at distance <= radius is inside).

    Returns
    -------
    numpy.ndarray
        (Z, Y, X) int64 particle ids, 0 = background.
    """
    z, y, x = np.indices(shape_zyx)
    occupancy = np.zeros(shape_zyx, dtype=np.int64)
    for pid, ((cx, cy, cz), r) in enumerate(zip(centres_xyz, radii), start=1):
        occupancy[(x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r] = pid
    return occupancy


def write_sphere_truth(folder: str | Path, classes: list[str], centres_xyz, radii, *,
                       shape_zyx=(32, 32, 32), class_table: ClassTable | None = None,
                       voxel_size_a: float = 10.0, angles=None) -> Path:
    """Write particle_locations.txt, occupancy_mask.mrc, class_mask.mrc (and classes.csv if given)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    centres_xyz = np.asarray(centres_xyz, dtype=float).reshape(-1, 3)
    occupancy = sphere_occupancy(shape_zyx, centres_xyz, radii)
    write_volume(folder / OCCUPANCY_MASK, occupancy.astype(label_dtype(len(classes))), voxel_size_a)
    if class_table is not None:
        write_classes(class_table, folder / "classes.csv")
        label = {name: class_table.label_of(name) for name in class_table.names}
        ids_to_label = np.array([0] + [label[c] for c in classes])
        write_volume(folder / CLASS_MASK, ids_to_label[occupancy].astype(np.uint8), voxel_size_a)
    angles = np.zeros((len(classes), 3)) if angles is None else angles
    write_particles(make_particles(classes, centres_xyz, angles), folder / PARTICLE_LOCATIONS, "shrec")
    return folder
