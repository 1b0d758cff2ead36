"""Synthetic structure libraries (smooth blobs with ball models) for tests and benchmarks.

They follow the library contract exactly (:class:`generator.structures.library.StructureLibrary`):
templates are unions of smooth balls and ellipsoids on a cubic grid with the
density centroid on the centre voxel; ball models in Å. ``shrec_like_library``
mimics the 12 SHREC 2020 classes' sizes (rough radii and masses, NOT the real
structures) so the packer can be benchmarked without the structure library.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from generator.scene.templates import auto_ball_count, balls_from_points
from generator.structures.library import StructureLibrary
from tomobench.classes import ClassTable

EDGE_VOX = 0.6


def blob_template(parts: list[tuple[tuple[float, float, float], tuple[float, float, float]]],
                  edge_vox: float = EDGE_VOX) -> np.ndarray:
    """Template of ellipsoids ``[(centre_xyz, semi_axes_xyz), ...]`` (voxels, around the origin).

    Returns ``template[z, y, x]`` (float32, values in [0, 1]); the parts are
    shifted so that the density centroid lands on the centre voxel ``n // 2``.
    """
    centres = np.array([c for c, _ in parts], dtype=float)
    axes = np.array([a for _, a in parts], dtype=float)
    weights = axes.prod(1)
    centres = centres - (weights[:, None] * centres).sum(0) / weights.sum()
    reach = np.max(np.abs(centres) + axes.max(1, keepdims=True)) + 3 * edge_vox + 3
    n = int(2 * np.ceil(reach) + 1)
    z, y, x = np.meshgrid(*(np.arange(n, dtype=float) - n // 2,) * 3, indexing="ij")
    grid = np.stack([x, y, z], -1)

    def draw(shift):
        out = np.zeros((n, n, n), dtype=np.float32)
        for c, a in zip(centres - shift, axes):
            dist = (np.linalg.norm((grid - c) / a, axis=-1) - 1) * a.min()
            np.maximum(out, 0.5 * (1 - np.tanh(dist / edge_vox)), out=out)
        return out

    out = draw(np.zeros(3))
    # shift the parts so that the density centroid sits on the centre voxel
    shift = (out[..., None] * grid).sum((0, 1, 2)) / out.sum()
    out = draw(shift)
    return out


def make_library(specs: dict[str, list], voxel_size_a: float = 10.0, masses_kda: Mapping[str, float] | None = None,
                 n_balls: int | None = None) -> StructureLibrary:
    """Library from ``{name: parts}`` (see :func:`blob_template`, voxels); labels 1.. in order."""
    records, templates, balls = [], {}, {}
    for label, (name, parts) in enumerate(specs.items(), start=1):
        template = blob_template(parts)
        templates[name] = template
        # k-means balls enclosing the mask at the default threshold (0.1 x max)
        mask_xyz = (np.argwhere(template >= 0.1 * template.max()) - np.array(template.shape) // 2)[:, ::-1]
        balls[name] = balls_from_points(mask_xyz, n_balls or auto_ball_count(len(mask_xyz))) * voxel_size_a
        volume_nm3 = float((template >= 0.5).sum()) * (voxel_size_a / 10) ** 3
        mass = (masses_kda or {}).get(name, volume_nm3 * 0.81)   # ~0.81 kDa per nm^3 of protein
        records.append({"class_name": name, "label": label, "pdb_id": "", "mass_kda": mass,
                        "volume_nm3": volume_nm3, "eff_radius_nm": (3 * volume_nm3 / (4 * np.pi)) ** (1 / 3),
                        "kind": "protein", "scored": True})
    return StructureLibrary(ClassTable.from_records(records), voxel_size_a, templates, balls)


def toy_library(voxel_size_a: float = 10.0) -> StructureLibrary:
    """Three small classes: an asymmetric three-ball body, a prolate ellipsoid and a dumbbell."""
    return make_library({
        "asym": [((0, 0, 0), (4, 4, 4)), ((5, 0, 0), (2.5, 2.5, 2.5)), ((0, 4, 2), (2, 2, 2))],
        "rod": [((0, 0, 0), (7, 3, 3))],
        "dumbbell": [((-4, 0, 0), (3, 3, 3)), ((4, 0, 0), (3, 3, 3)), ((0, 0, 0), (4, 1.5, 1.5))],
    }, voxel_size_a)


# rough SHREC 2020 class sizes at 10 A: (semi-axes of a main body in voxels, mass kDa)
_SHREC_LIKE = {
    "1s3x": ((2.6, 2.2, 2.0), 41), "3qm1": ((2.8, 2.4, 2.2), 58), "3gl1": ((3.2, 2.8, 2.6), 90),
    "3h84": ((3.8, 3.2, 2.8), 173), "2cg9": ((4.6, 3.4, 3.0), 211), "3d2f": ((4.8, 4.0, 3.4), 244),
    "1u6g": ((6.0, 3.8, 3.6), 260), "3cf3": ((5.4, 4.8, 4.2), 560), "1bxn": ((5.6, 5.4, 5.0), 660),
    "1qvr": ((7.2, 5.4, 4.8), 1011), "4cr2": ((9.5, 5.0, 4.6), 1400), "4v94": ((12.0, 10.5, 9.5), 3300),
}


def shrec_like_library(voxel_size_a: float = 10.0) -> StructureLibrary:
    """Twelve synthetic classes named and sized like the SHREC 2020 classes (ellipsoid + side lobe)."""
    specs, masses = {}, {}
    for name, (axes, mass) in _SHREC_LIKE.items():
        a = np.array(axes) * 10.0 / voxel_size_a
        lobe = a.min() * 0.6
        specs[name] = [((0, 0, 0), tuple(a)), ((a[0] * 0.6, a[1] * 0.6, 0), (lobe,) * 3)]
        masses[name] = mass
    return make_library(specs, voxel_size_a, masses)
