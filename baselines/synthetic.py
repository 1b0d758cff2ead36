"""Synthetic stand-ins for a public dataset (tests, benchmarks, demos without the simulator).

Simple shapes (sphere, shell, cube, rod) are planted at random non-overlapping
positions and random orientations into Gaussian noise; the truth files follow
docs/conventions.md (class_mask.mrc, occupancy_mask.mrc, particle_locations.txt). This is
not a physical simulation: no CTF, no missing wedge, white noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tomobench.classes import ClassTable, write_classes
from tomobench.euler import matrix_to_euler, random_rotations
from tomobench.rotate import rotate_volume
from tomobench.volumes import write_volume

SHAPES = ("sphere", "shell", "cube", "rod")


def shape_template(kind: str, box: int, radius: float) -> np.ndarray:
    """A binary-ish density (float32, [z, y, x], centre voxel ``box // 2``) of the named shape."""
    c = box // 2
    z, y, x = np.indices((box,) * 3) - c
    r = np.sqrt(x * x + y * y + z * z)
    if kind == "sphere":
        t = r <= radius
    elif kind == "shell":
        t = (r <= radius) & (r >= radius * 0.6)
    elif kind == "cube":
        t = np.maximum(np.maximum(abs(x), abs(y)), abs(z)) <= radius * 0.8
    elif kind == "rod":
        t = (x / radius) ** 2 + (y / (0.4 * radius)) ** 2 + (z / (0.4 * radius)) ** 2 <= 1
    else:
        raise ValueError(f"unknown shape {kind!r}; choose from {SHAPES}")
    return t.astype(np.float32)


def plant(shape_zyx: tuple[int, int, int], templates: dict[str, np.ndarray], labels: dict[str, int],
          n_per_class: int, rng: np.random.Generator, *, noise_sigma: float = 0.5,
          min_distance: float | None = None, margin: int = 2):
    """Plant rotated templates into a volume; returns (volume, class_mask, occupancy, rows).

    ``rows`` are ``(class, x, y, z, phi, theta, psi)`` with integer centres, in occupancy-id order.
    """
    clean = np.zeros(shape_zyx, np.float32)
    class_mask = np.zeros(shape_zyx, np.uint8)
    occupancy = np.zeros(shape_zyx, np.uint16)
    rows: list[tuple[str | int | float, ...]] = []
    centres: list[np.ndarray] = []
    names = [n for n in templates for _ in range(n_per_class)]
    rng.shuffle(names)
    for name in names:
        tpl = templates[name]
        half = tpl.shape[0] // 2
        dist = min_distance if min_distance is not None else tpl.shape[0] * 0.8
        for _attempt in range(200):
            centre = rng.integers(margin + half // 2, np.array(shape_zyx) - margin - half // 2)
            if all(np.linalg.norm(centre - c) >= dist for c in centres):
                break
        else:
            continue
        matrix = random_rotations(1, rng)[0]
        angles = np.asarray(matrix_to_euler(matrix), dtype=float).ravel()
        rot = rotate_volume(tpl, matrix, order=1)
        body = rot > 0.5
        lo = centre - half
        dst, src = [], []
        for a in range(3):
            d0, d1 = max(lo[a], 0), min(lo[a] + tpl.shape[a], shape_zyx[a])
            dst.append(slice(d0, d1))
            src.append(slice(d0 - lo[a], d1 - lo[a]))
        sl_dst, sl_src = tuple(dst), tuple(src)
        pid = len(rows) + 1
        clean[sl_dst] += rot[sl_src]
        region = body[sl_src] & (occupancy[sl_dst] == 0)
        class_mask[sl_dst][region] = labels[name]
        occupancy[sl_dst][region] = pid
        centres.append(centre)
        rows.append((name, int(centre[2]), int(centre[1]), int(centre[0]), *[float(a) for a in angles]))
    volume = clean + rng.normal(0.0, noise_sigma, shape_zyx).astype(np.float32)
    return volume, class_mask, occupancy, rows


def default_classes() -> tuple[ClassTable, dict[str, tuple[str, float]]]:
    """Two protein classes of very different shape plus an unscored membrane class."""
    table = ClassTable.from_records([
        {"class_name": "ball", "label": 1, "pdb_id": "", "mass_kda": 150.0, "kind": "protein", "scored": True},
        {"class_name": "rod", "label": 2, "pdb_id": "", "mass_kda": 700.0, "kind": "protein", "scored": True},
        {"class_name": "membrane", "label": 3, "pdb_id": "", "kind": "membrane", "scored": False},
    ])
    return table, {"ball": ("sphere", 3.0), "rod": ("rod", 6.0)}


def write_fake_public(folder: str | Path, rng: np.random.Generator, *, n_train: int = 2, n_test: int = 1,
                      shape_zyx: tuple[int, int, int] = (32, 64, 64), n_per_class: int = 8,
                      noise_sigma: float = 0.5, box: int = 16, voxel_size_a: float = 10.0,
                      with_private: bool = True) -> Path:
    """Write a public dataset folder (and ``../private/test`` truth) with the contract's layout."""
    folder = Path(folder)
    table, shapes = default_classes()
    templates = {n: shape_template(k, box, r) for n, (k, r) in shapes.items()}
    labels = {n: table.label_of(n) for n in templates}
    write_classes(table, folder / "classes.csv")
    structures = folder / "structures"
    write_classes(table, structures / "classes.csv")
    for name, tpl in templates.items():
        write_volume(structures / f"{name}.mrc", tpl, voxel_size_a)
    if with_private and n_test:
        write_classes(table, folder.parent / "private" / "test" / "classes.csv")
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            name = f"tomo_{split}_{i:02d}"
            vol, cmask, occ, rows = plant(shape_zyx, templates, labels, n_per_class, rng, noise_sigma=noise_sigma)
            # an unscored membrane: a slab at a quarter of the height, as SHREC 2021's non-particles
            zm = shape_zyx[0] // 4
            vol[zm:zm + 2][cmask[zm:zm + 2] == 0] += 1.0
            cmask[zm:zm + 2][cmask[zm:zm + 2] == 0] = table.label_of("membrane")
            truth = folder / "train" / name if split == "train" else (folder.parent / "private" / "test" / name)
            public = folder / split / name
            write_volume(public / "reconstruction.mrc", vol, voxel_size_a)
            if split == "train" or with_private:
                write_volume(truth / "class_mask.mrc", cmask, voxel_size_a)
                write_volume(truth / "occupancy_mask.mrc", occ, voxel_size_a)
                with (truth / "particle_locations.txt").open("w") as fh:
                    for r in rows:
                        fh.write(f"{r[0]} {r[1]} {r[2]} {r[3]} {r[4]:.3f} {r[5]:.3f} {r[6]:.3f}\n")
    return folder
