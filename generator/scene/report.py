"""The scene report (``scene_report.json``): what a scene was asked for and what it placed.

Written by :func:`generator.scene.truth.write_ground_truth` through :class:`SceneReport`;
its JSON schema is ``docs/scene_report.schema.json`` (``python scripts/write_schemas.py``
writes it). Counts are objects, occupancies are fractions of the sample slab's voxels.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Placement(_Report):
    """Objects of several kinds (membrane shapes, bound classes): asked for, placed, failed trials."""

    requested: dict[str, int]
    placed: dict[str, int]
    failures: int


class FilamentPlacement(Placement):
    """Filaments, with the length of each one placed (Å)."""

    lengths_a: list[float]


class FiducialPlacement(_Report):
    """Gold beads: asked for, placed, failed trials."""

    requested: int
    placed: int
    failures: int


class PackReport(_Report):
    """One packing pass of the cytosolic particles (the first one or a refill)."""

    requested: dict[str, int] | None      # per-class quotas (None: an occupancy target)
    target_occupancy: float | None        # the occupancy target (None: quotas)
    placed: dict[str, int]
    exhausted: list[str]                  # classes that hit N_t consecutive failures
    trials: int
    failures: int
    occupancy: float                      # protein voxels / slab voxels after the pass
    next_cluster: int                     # the next free SAWLC cluster id


class CompactionRound(_Report):
    """One round of compaction, settle and refill."""

    dropped: int                          # bodies that fit nowhere after the moves
    settle_moves: int                     # one-voxel settle steps taken
    occupancy_after_compaction: float
    refilled: int | None                  # particles the refill placed (None: nothing left to refill)
    occupancy: float


class CompactionReport(_Report):
    """Every compaction round, in order."""

    rounds: list[CompactionRound]


class SceneReport(_Report):
    """The whole report of one scene; ``membrane_bound`` and ``compaction`` only when they ran."""

    protein_reference: float              # mean template value inside the particle masks (library units)
    membranes: Placement
    filaments: FilamentPlacement
    fiducials: FiducialPlacement
    membrane_bound: Placement | None = None
    particles: PackReport
    compaction: CompactionReport | None = None
    occupancy_protein: float
    occupancy_all: float
    n_objects: int

    def to_json(self) -> str:
        """The file's text: sorted keys, floats to 6 decimals, sections that did not run left out."""
        return json.dumps(_rounded(self.model_dump(mode="json", exclude_none=False, exclude_unset=True)),
                          indent=1, sort_keys=True)

    @classmethod
    def read(cls, path: str | Path) -> SceneReport:
        """Read and validate a ``scene_report.json``."""
        return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))


def _rounded(obj):
    if isinstance(obj, dict):
        return {str(k): _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    if isinstance(obj, float):
        return round(obj, 6)
    return obj


def schema_json() -> str:
    """The JSON schema of :class:`SceneReport` as committed in ``docs/scene_report.schema.json``."""
    return json.dumps(SceneReport.model_json_schema(), indent=2, sort_keys=True) + "\n"

