"""Build one tomogram's sample: ``build_scene(library, params, rng) -> Scene``.

Order (PolNet: large rigid structures first): membranes, filaments, fiducials,
membrane-bound particles, cytosolic particles (SAWLC clusters first), optional
compaction + refill, then the ice. Object ids are 1..N in that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from generator.scene.canvas import Canvas, Record
from generator.scene.compaction import compact_and_refill
from generator.scene.filaments import add_filaments
from generator.scene.insertion import Packer, PackingRules
from generator.scene.membranes import add_membranes, place_bound
from generator.scene.packing import BallIndex, quotas
from generator.scene.params import SceneParams
from generator.scene.report import CompactionReport, FiducialPlacement, FilamentPlacement, Placement, SceneReport
from generator.scene.solvent import add_fiducials, add_ice
from generator.scene.templates import Shape, prepare_shape, protein_reference
from generator.structures.library import StructureLibrary
from tomobench.classes import ClassTable
from tomobench.errors import InputError
from tomobench.euler import matrix_to_euler

EXTRA_CLASSES = ("vesicle", "membrane", "microtubule", "actin", "fiducial")
_EXTRA_KIND = {"vesicle": "vesicle", "membrane": "membrane", "microtubule": "filament", "actin": "filament",
               "fiducial": "fiducial"}
PARTICLE_COLUMNS = ["id", "class", "label", "kind", "x", "y", "z", "phi", "theta", "psi",
                    "bbox_x0", "bbox_y0", "bbox_z0", "bbox_x1", "bbox_y1", "bbox_z1", "cluster", "voxels"]


@dataclass
class Scene:
    """A noise-free sample and its ground truth (arrays ``[z, y, x]``)."""

    grandmodel: np.ndarray        # float32 scattering potential (library units)
    class_mask: np.ndarray        # uint16 class labels, 0 = background
    occupancy: np.ndarray         # uint32 object ids 1..N, 0 = background
    particles: pd.DataFrame       # PARTICLE_COLUMNS, row i has id i + 1; bbox half-open, voxels
    classes: ClassTable           # library classes + the non-particle classes in use
    voxel_size_a: float
    report: SceneReport           # what was asked and what was placed


def scene_classes(library: StructureLibrary, params: SceneParams) -> ClassTable:
    """The library's class table plus one unscored row per non-particle class the parameters use."""
    table = library.classes.table
    used = {"vesicle": params.membranes.n_vesicles > 0,
            "membrane": params.membranes.n_ellipsoids + params.membranes.n_tori > 0,
            "microtubule": params.filaments.n_microtubules > 0, "actin": params.filaments.n_actin > 0,
            "fiducial": params.fiducials.count > 0}
    clash = [n for n in EXTRA_CLASSES if used[n] and n in set(table["class_name"])]
    if clash:
        raise InputError(f"the structure library has a class named {clash[0]!r}, a name the scene reserves for "
                         f"its non-particle objects; rename that structure")
    records = table.to_dict("records")
    label = int(table["label"].max()) if len(table) else 0
    for name in EXTRA_CLASSES:
        if used[name]:
            label += 1
            records.append({"class_name": name, "label": label, "pdb_id": "", "size_group": "",
                            "kind": _EXTRA_KIND[name], "scored": False})
    return ClassTable.from_records(records)


def _weights(library: StructureLibrary, params: SceneParams) -> dict[str, float]:
    table = library.classes.table
    proteins = [n for n, k in zip(table["class_name"], table["kind"]) if k == "protein"]
    if params.class_proportions:
        unknown = [n for n in params.class_proportions if n not in proteins]
        if unknown:
            raise InputError(f"scene.class_proportions names unknown class(es) {unknown}; the library's "
                             f"particle classes are {proteins}")
        weights = {n: float(w) for n, w in params.class_proportions.items()}
    else:
        weights = {n: 1.0 for n in proteins}
    missing = [n for n, w in weights.items() if w > 0 and n not in library.templates]
    if missing:
        raise InputError(f"the structure library has no template for {missing}; rebuild it or set their "
                         f"scene.class_proportions to 0")
    return weights


def _check_fit(shapes: dict[str, Shape], weights: dict[str, float], params: SceneParams, n_target: int) -> None:
    used = [s for n, s in shapes.items() if weights.get(n, 0) > 0]
    if not used:
        return
    thickness = params.slab_z[1] - params.slab_z[0]
    biggest = max(used, key=lambda s: s.mask_radius_vox)
    if 2 * biggest.mask_radius_vox + 1 > min(thickness, *params.shape_xyz[:2]):
        raise InputError(f"class {biggest.name!r} is {2 * biggest.mask_radius_vox + 1:.0f} voxels across "
                         f"but the sample is {thickness} x {min(params.shape_xyz[:2])} voxels (slab x side); "
                         f"raise scene.slab_thickness_vox / shape_xyz or drop the class")
    if n_target:
        q = quotas(n_target, list(weights), np.array(list(weights.values())))
        need = sum(q[n] * shapes[n].mask_volume_vox for n in q if n in shapes)
        slab = thickness * params.shape_xyz[0] * params.shape_xyz[1]
        if need > slab:
            raise InputError(f"{n_target} particles need {need:,} voxels but the slab holds {slab:,}; "
                             f"ask for fewer particles (scene.n_particles / particles_per_mvox)")


def build_scene(library: StructureLibrary, params: SceneParams, rng: np.random.Generator) -> Scene:
    """Build the sample of one tomogram (same library, parameters and rng state -> same scene)."""
    if abs(library.voxel_size_a - params.voxel_size_a) > 1e-3 * params.voxel_size_a:
        raise InputError(f"the structure library is at {library.voxel_size_a} Å/voxel but scene.voxel_size_a is "
                         f"{params.voxel_size_a}; build the library at the scene's voxel size")
    weights = _weights(library, params)
    shapes = {n: prepare_shape(n, library.classes.label_of(n), library.templates[n], library.balls.get(n),
                               params.voxel_size_a, params.mask_threshold) for n in weights if weights[n] > 0}
    weights = {n: w for n, w in weights.items() if w > 0}
    n_voxels = int(np.prod(params.shape_xyz))
    if params.n_particles is not None:
        n_target = params.n_particles
    elif params.occupancy is not None:
        n_target = None
    else:
        n_target = int(round(params.particles_per_mvox * n_voxels / 1e6))
    _check_fit(shapes, weights, params, n_target or 0)
    classes = scene_classes(library, params)
    labels = {n: classes.label_of(n) for n in EXTRA_CLASSES if n in classes.names}
    level = protein_reference(list(shapes.values())) if shapes else 1.0
    canvas, index = Canvas(params.shape_xyz, params.slab_z), BallIndex()
    surfaces, sections = _add_structures(canvas, index, params, rng, level, labels)
    bound = _add_bound(canvas, index, shapes, weights, surfaces, params, rng, n_target or 0)
    if bound is not None:
        sections["membrane_bound"] = bound
    n_bound = 0 if bound is None else sum(bound.placed.values())
    n_free = None if n_target is None else max(n_target - n_bound, 0)
    with Packer(canvas, shapes, rng, PackingRules.from_scene(params)) as packer:
        first = packer.pack(index, weights, n_particles=n_free, occupancy=params.occupancy)
        if params.compaction.enabled:
            sections["compaction"] = CompactionReport.model_validate(
                compact_and_refill(canvas, shapes, weights, params, first, packer))
    add_ice(canvas.density, canvas.slab_z, params.ice, rng)
    records, ids = canvas.finish()
    report = SceneReport(protein_reference=level, particles=first, **sections,
                         occupancy_protein=canvas.occupied_voxels(("protein",)) / canvas.slab_voxels,
                         occupancy_all=canvas.occupied_voxels() / canvas.slab_voxels, n_objects=len(records))
    return Scene(grandmodel=canvas.density, class_mask=canvas.labels, occupancy=ids,
                 particles=particles_frame(records), classes=classes, voxel_size_a=params.voxel_size_a,
                 report=report)


def _add_structures(canvas: Canvas, index: BallIndex, params: SceneParams, rng: np.random.Generator,
                    level: float, labels: dict[str, int]) -> tuple[list, dict]:
    """Membranes, filaments and fiducials (in that order): their surfaces and report sections."""
    mp = params.membranes
    surfaces, membranes = add_membranes(canvas, mp, rng, params.voxel_size_a, mp.relative_density * level, labels)
    filaments = add_filaments(canvas, params.filaments, rng, params.voxel_size_a,
                              params.filaments.relative_density * level, labels)
    fiducials = add_fiducials(canvas, index, params.fiducials, rng, params.voxel_size_a,
                              params.fiducials.relative_density * level, labels.get("fiducial", 0),
                              params.max_failures)
    return surfaces, {"membranes": Placement.model_validate(membranes),
                      "filaments": FilamentPlacement.model_validate(filaments),
                      "fiducials": FiducialPlacement.model_validate(fiducials)}


def _add_bound(canvas: Canvas, index: BallIndex, shapes: dict[str, Shape], weights: dict[str, float],
               surfaces: list, params: SceneParams, rng: np.random.Generator, n_target: int) -> Placement | None:
    """Membrane-bound particles (``bound_fraction`` of the particle target), or None when there are none."""
    mp = params.membranes
    if not (mp.bound_classes and mp.bound_fraction > 0 and n_target):
        return None
    unknown = [n for n in mp.bound_classes if n not in shapes]
    if unknown:
        raise InputError(f"scene.membranes.bound_classes names {unknown}, not particle classes in use "
                         f"({sorted(shapes)})")
    counts = quotas(int(round(mp.bound_fraction * n_target)), mp.bound_classes,
                    np.array([weights[n] for n in mp.bound_classes]))
    return Placement.model_validate(place_bound(canvas, index, shapes, counts, surfaces, rng,
                                                params.packing_model, params.max_failures))


def particles_frame(records: list[Record]) -> pd.DataFrame:
    """One row per object, ids 1..N (see :data:`PARTICLE_COLUMNS`)."""
    rows = []
    todo = [r for r in records if r.angles is None]
    if todo:        # one batched conversion for the objects that carry a matrix only
        for r, a in zip(todo, matrix_to_euler(np.array([r.matrix for r in todo])).reshape(-1, 3)):
            r.angles = a
    for r in records:
        z0, y0, x0, z1, y1, x1 = r.bbox_zyx
        angles = np.zeros(3) if r.angles is None else r.angles      # never None after the conversion above
        rows.append([r.id, r.class_name, r.label, r.kind, *(int(v) for v in r.centre_xyz), *angles,
                     x0, y0, z0, x1, y1, z1, r.cluster, r.voxels])
    df = pd.DataFrame(rows, columns=PARTICLE_COLUMNS)
    for col in ("id", "label", "x", "y", "z", "bbox_x0", "bbox_y0", "bbox_z0", "bbox_x1", "bbox_y1", "bbox_z1",
                "cluster", "voxels"):
        df[col] = df[col].astype(np.int64)
    for col in ("phi", "theta", "psi"):
        df[col] = df[col].astype(float)
    return df
