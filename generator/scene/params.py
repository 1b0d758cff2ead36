"""Parameters of a scene (``params.yaml`` section ``scene``); defaults = the ``default`` preset.

Lengths carry their unit in the name: ``_a`` Å, ``_vox`` voxels. Densities of
non-protein objects are *relative* to the protein reference level of the
library (the mean template value inside the particle masks, see
:func:`generator.scene.templates.protein_reference`), so a scene looks the same
whatever units the structure library uses.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from tomobench.params import Params


def _ordered(value: tuple[float, float]) -> tuple[float, float]:
    lo, hi = value
    if lo < 0 or hi < lo:
        raise ValueError(f"a range needs 0 <= low <= high, got {value}")
    return value


Range = Annotated[tuple[float, float], AfterValidator(_ordered)]   # a (low, high) pair, 0 <= low <= high


class MembraneParams(Params):
    """Vesicles (spheres), ellipsoidal vesicles and toroidal sheets with a bilayer profile (PolNet)."""

    n_vesicles: int = Field(2, ge=0)
    n_ellipsoids: int = Field(1, ge=0)
    n_tori: int = Field(0, ge=0)
    radius_range_a: Range = (150.0, 400.0)        # sphere radius / ellipsoid semi-axes / torus radii
    thickness_range_a: Range = (25.0, 45.0)       # distance between the two leaflet centres (PolNet t)
    leaflet_sigma_range_a: Range = (5.0, 8.0)     # Gaussian sigma of each leaflet (PolNet sigma_l)
    max_eccentricity: float = Field(0.8, ge=0, lt=1)
    relative_density: float = Field(1.0, gt=0)
    max_failures: int = Field(50, ge=1)           # N_t for membranes
    bound_classes: list[str] = []                 # protein classes placed on membranes
    bound_fraction: float = Field(0.0, ge=0, le=1)  # fraction of the particle target placed on membranes

    @property
    def count(self) -> int:
        """Membranes asked for, of all shapes."""
        return self.n_vesicles + self.n_ellipsoids + self.n_tori


class FilamentParams(Params):
    """Microtubules and actin-like filaments grown along worm-like chains (persistence length)."""

    n_microtubules: int = Field(1, ge=0)
    n_actin: int = Field(2, ge=0)
    length_range_a: Range = (800.0, 2500.0)
    min_length_a: float = Field(300.0, ge=0)      # shorter (overlap-truncated) filaments are rejected
    mt_persistence_a: float = Field(50000.0, gt=0)
    actin_persistence_a: float = Field(10000.0, gt=0)
    relative_density: float = Field(1.0, gt=0)
    max_failures: int = Field(50, ge=1)

    @property
    def count(self) -> int:
        """Filaments asked for, of both kinds."""
        return self.n_microtubules + self.n_actin


class FiducialParams(Params):
    """Gold beads: dense solid spheres."""

    count: int = Field(4, ge=0)
    diameter_range_a: Range = (50.0, 100.0)
    relative_density: float = Field(4.0, gt=0)


class IceParams(Params):
    """Vitreous ice filling the slab where there is no object, with small random variation."""

    enabled: bool = True
    density_g_cm3: float = Field(0.93, ge=0)      # vitreous ice: 4.53 V (water_potential_v)
    noise_sigma: float = Field(0.01, ge=0)        # relative to the bulk-protein potential, 7.94 V (SHREC 0.01)


class ClusterParams(Params):
    """Self-avoiding worm-like chains (PolNet SAWLC) of particles."""

    enabled: bool = False
    fraction: float = Field(0.3, ge=0, le=1)      # share of the particle target placed in clusters
    mean_size: float = Field(6.0, ge=1)           # mean number of particles per cluster (geometric)
    gap_range_a: Range = (0.0, 30.0)              # surface gap between consecutive members
    max_failures: int = Field(20, ge=1)           # tries for the next member before the chain ends


class CompactionParams(Params):
    """Multi-ball compaction: rigid ball bodies drawn to the centre with soft repulsion, then refill."""

    enabled: bool = False
    rounds: int = Field(2, ge=1)                  # compaction + refill rounds
    iterations: int = Field(60, ge=1)             # force steps per round
    step_a: float = Field(10.0, gt=0)             # largest move per step
    relax: bool = True                            # ball dynamics before the settle
    settle_passes: int = Field(10, ge=0)          # voxel-exact one-voxel steps toward the centre


class SceneParams(Params):
    """One tomogram's sample. Particle target precedence: ``n_particles`` > ``occupancy`` > ``particles_per_mvox``."""

    shape_xyz: tuple[int, int, int] = (256, 256, 100)
    voxel_size_a: float = Field(10.0, gt=0)
    slab_thickness_vox: int | None = Field(90, gt=0)   # None: the whole z range
    n_particles: int | None = Field(None, ge=0)
    occupancy: float | None = Field(None, ge=0, lt=1)  # target volume fraction of the slab
    particles_per_mvox: float = Field(50.0, ge=0)      # per million voxels of the whole volume
    class_proportions: dict[str, float] = {}           # empty: equal shares of all protein classes
    max_failures: int = Field(100, ge=1)               # PolNet N_t: consecutive failures that end a class
    packing_model: Literal["multiball", "singleball", "voxel"] = "multiball"
    mask_threshold: float = Field(0.1, gt=0, lt=1)     # mask = rotated template >= this x template max
    largest_first: bool = True
    render_threads: int = Field(2, ge=1)               # threads rotating templates (results do not depend on it)
    membranes: MembraneParams = MembraneParams()
    filaments: FilamentParams = FilamentParams()
    fiducials: FiducialParams = FiducialParams()
    ice: IceParams = IceParams()
    clusters: ClusterParams = ClusterParams()
    compaction: CompactionParams = CompactionParams()

    @field_validator("shape_xyz")
    @classmethod
    def _positive_shape(cls, v):
        if min(v) < 8:
            raise ValueError(f"every side must be at least 8 voxels, got {v}")
        return v

    @field_validator("class_proportions")
    @classmethod
    def _proportions(cls, v):
        if any(w < 0 for w in v.values()):
            raise ValueError("proportions must be >= 0")
        if v and sum(v.values()) <= 0:
            raise ValueError("proportions must not all be 0")
        return v

    @model_validator(mode="after")
    def _slab(self):
        if self.slab_thickness_vox is not None and self.slab_thickness_vox > self.shape_xyz[2]:
            raise ValueError(f"slab_thickness_vox {self.slab_thickness_vox} exceeds the z size {self.shape_xyz[2]}")
        return self

    @property
    def slab_z(self) -> tuple[int, int]:
        """Half-open z range ``[z0, z1)`` of the sample slab (centred in the volume)."""
        nz = self.shape_xyz[2]
        t = nz if self.slab_thickness_vox is None else self.slab_thickness_vox
        z0 = (nz - t) // 2
        return z0, z0 + t
