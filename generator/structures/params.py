"""Parameters of the structure library (``params.yaml`` section ``structures``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from tomobench.params import Params

DEFAULT_PDB_URL = "https://files.rcsb.org/download/{id}.cif.gz"


class StructureParams(Params):
    """How the structure library is built; defaults are the ``default`` preset.

    ``source``: ``builtin`` (12 procedural complexes, offline), a folder of PDB/mmCIF
    files (plain or .gz) and/or MRC maps (searched recursively; one class per file,
    named after its stem), or comma-separated PDB ids (downloaded once into
    ``cache_dir``).
    """

    source: str = "builtin"
    voxel_size_a: float = Field(10.0, gt=0, description="voxel size of the templates (Å)")
    assembly: str = Field("biological", description="'biological' (first assembly of the file), "
                          "'asymmetric' (asymmetric unit) or an assembly id of the file")
    assemblies: dict[str, str] = Field(default_factory=dict, description="per-class choice of assembly "
                                       "(class name -> 'biological', 'asymmetric' or an id); classes not named "
                                       "take `assembly` (SHREC 2020 used the asymmetric unit for 3gl1 and 3d2f)")
    map_single_body: list[str] = Field(default_factory=list, description="map classes whose map holds several "
                                       "copies of the complex (e.g. 4v94, two TRiC): keep the largest body only, "
                                       "so the centre and the estimated mass are one complex's")
    keep_waters: bool = False
    keep_ligands: bool = False
    implicit_hydrogens: bool = True
    cache_dir: str = "data/cache/structures"
    pdb_url: str = Field(DEFAULT_PDB_URL, description="download URL template; {id} is the lower-case PDB id")
    offline: bool = Field(False, description="never download; missing PDB ids are an error")
    fine_spacing_a: float = Field(2.5, gt=0, description="largest spacing of the fine grid the atoms are spread on (Å)")
    pad_voxels: int = Field(3, ge=0, description="empty voxels between the farthest atom and the box edge")
    iso_fraction: float = Field(0.2, gt=0, lt=1, description="isosurface level of the class metadata as a "
                                "fraction of the mean potential of bulk protein (0.2 x 7.94 V = 1.59 V; "
                                "calibrated on SHREC 2020 Table 1, see docs/structures.md)")
    map_masses_kda: dict[str, float] = Field(default_factory=dict, description="masses of map-only classes (kDa); "
                                            "else read from <stem>.mass_kda.txt beside the map or estimated")
    map_iso_fraction: float = Field(0.5, gt=0, lt=1, description="envelope threshold (fraction of the map "
                                    "maximum after background subtraction) when a map's mass is estimated")
    balls_per_atoms: int = Field(5000, gt=0, description="k = max(3, ceil(n_atoms / balls_per_atoms))")
    min_balls: int = Field(3, ge=1)
    seed: int = Field(0, ge=0, description="seed of the built-in complexes and of k-means")
    pictures: bool = True

    @field_validator("assembly")
    @classmethod
    def _assembly_not_empty(cls, value: str) -> str:
        if not str(value).strip():
            raise ValueError("assembly must be 'biological', 'asymmetric' or an assembly id")
        return str(value).strip()

    @field_validator("assemblies")
    @classmethod
    def _assemblies_not_empty(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name, choice in value.items() if not str(choice).strip()]
        if bad:
            raise ValueError(f"assemblies of {bad} are empty; use 'biological', 'asymmetric' or an assembly id")
        return {str(name): str(choice).strip() for name, choice in value.items()}

    def assembly_of(self, name: str) -> str:
        """The assembly choice of class ``name``: its entry in ``assemblies``, else ``assembly``."""
        return self.assemblies.get(name, self.assembly)
