"""Class metadata from a template: isosurface volume and area, sphericity, radii, size group.

The isosurface (scikit-image marching cubes) is taken at ``iso_fraction`` (default
0.2) of the mean potential of bulk protein (:func:`bulk_protein_potential_v`, about
7.94 V), i.e. at 1.59 V, whatever the voxel size. At 10 Å this level reproduces
SHREC 2020 Table 1 (volumes within about 20 %, sphericities within about 0.04 for
the ten classes with atomic models; see benchmarks/bench_structures.py); the level
0.5 (half the protein plateau) would give volumes close to mass / 1.35 g/cm³ instead.

- volume: enclosed by the mesh (divergence theorem), nm³;
- area: of the mesh, nm²;
- sphericity Ψ = π^(1/3) (6V)^(2/3) / A (1 for a sphere);
- effective radius 3V/A (nm; the radius of a sphere with the same area-to-volume ratio);
- bounding radius: farthest atom from the centre of mass (nm);
- size group: SHREC 2020 Table 5 by mass.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from skimage.measure import marching_cubes, mesh_surface_area

from tomobench.classes import size_group


@dataclass(frozen=True)
class ShapeMetrics:
    """Isosurface measures in nm units (NaN when the level is outside the map's range)."""

    volume_nm3: float
    area_nm2: float

    @property
    def sphericity(self) -> float:
        """Sphericity Ψ of the isosurface (1 for a sphere, NaN without a surface)."""
        return sphericity(self.volume_nm3, self.area_nm2)

    @property
    def eff_radius_nm(self) -> float:
        """Effective radius 3V/A of the isosurface (nm; NaN without a surface)."""
        return 3.0 * self.volume_nm3 / self.area_nm2 if self.area_nm2 > 0 else math.nan


def sphericity(volume: float, area: float) -> float:
    """Ψ = π^(1/3) (6V)^(2/3) / A (any consistent units)."""
    return math.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area if area > 0 else math.nan


def isosurface_mesh(volume: np.ndarray, voxel_size_a: float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed marching-cubes mesh (vertices in Å, faces) of ``volume > level``; the box is padded first.

    Parameters
    ----------
    volume : np.ndarray
        A 3-D map ``[z, y, x]``.
    voxel_size_a : float
        Voxel size (Å).
    level : float
        Isosurface level, in the map's unit.

    Returns
    -------
    tuple of np.ndarray
        Vertices ``(V, 3)`` in Å, z y x like the map's axes (voxel 0 at 0), and faces ``(F, 3)``
        (vertex indices).
    """
    low = min(float(volume.min()), level) - 1.0
    padded = np.pad(np.asarray(volume, np.float32), 1, constant_values=low)
    verts, faces, _, _ = marching_cubes(padded, level=level, spacing=(voxel_size_a,) * 3)
    return verts - voxel_size_a, faces


def isosurface_metrics(volume: np.ndarray, voxel_size_a: float, level: float) -> ShapeMetrics:
    """Volume (nm³) and area (nm²) of the isosurface of ``volume`` at ``level``.

    Parameters
    ----------
    volume : np.ndarray
        A 3-D map ``[z, y, x]``.
    voxel_size_a : float
        Voxel size (Å).
    level : float
        Isosurface level, in the map's unit; outside the map's range the metrics are NaN (with a warning).

    Returns
    -------
    ShapeMetrics
        Volume in nm³ and area in nm² of the closed mesh of :func:`isosurface_mesh`.
    """
    if not (float(volume.min()) < level < float(volume.max())):
        warnings.warn(f"isosurface level {level:.3g} lies outside the map's range; volume and area are NaN",
                      stacklevel=2)
        return ShapeMetrics(math.nan, math.nan)
    verts, faces = isosurface_mesh(volume, voxel_size_a, level)
    tri = verts[faces]
    signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    area = mesh_surface_area(verts, faces)
    return ShapeMetrics(abs(float(signed)) / 1000.0, float(area) / 100.0)


def class_record(name: str, label: int, pdb_id: str, mass_kda: float, metrics: ShapeMetrics,
                 radius_nm: float) -> dict:
    """One row of ``classes.csv`` (a scored protein class)."""
    return {
        "class_name": name, "label": int(label), "pdb_id": pdb_id, "mass_kda": float(mass_kda),
        "volume_nm3": metrics.volume_nm3, "area_nm2": metrics.area_nm2, "sphericity": metrics.sphericity,
        "eff_radius_nm": metrics.eff_radius_nm, "radius_nm": float(radius_nm),
        "size_group": size_group(mass_kda), "kind": "protein", "scored": True,
    }
