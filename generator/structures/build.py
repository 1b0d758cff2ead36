"""Build a structure library: sources -> models -> templates, class table, ball models, report.

Classes get labels 1..N in order of increasing mass (as in SHREC 2020 Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from generator.structures.assembly import prepare_model
from generator.structures.atoms import atoms_from_model
from generator.structures.balls import ball_model, ball_report_row, n_balls
from generator.structures.builtin import builtin_structures, mean_atom_mass_da
from generator.structures.library import StructureLibrary
from generator.structures.maps import (
    estimate_mass_kda,
    given_mass_kda,
    largest_body,
    read_map,
    subtract_background,
    template_from_map,
)
from generator.structures.metadata import class_record, isosurface_metrics
from generator.structures.params import StructureParams
from generator.structures.potential import bulk_protein_potential_v, potential_from_atoms
from generator.structures.sources import Source, read_structure_file, resolve_sources
from tomobench.classes import ClassTable
from tomobench.errors import InputError


@dataclass
class ClassBuild:
    """One class before labelling: template (V), mass, bounding radius, points for the balls (Å, x y z)."""

    name: str
    pdb_id: str
    template: np.ndarray
    mass_kda: float
    radius_a: float
    points_a: np.ndarray
    n_atoms: int
    ball_margin_a: float = 0.0


@dataclass
class BuildResult:
    """What :func:`build_library_report` returns: the library, the ball-model report, the iso level (V)."""

    library: StructureLibrary
    ball_report: pd.DataFrame
    iso_level_v: float


def iso_level_v(params: StructureParams) -> float:
    """The isosurface level of the class metadata (V): ``iso_fraction`` × bulk protein potential."""
    return params.iso_fraction * bulk_protein_potential_v()


def _file_of(source: Source) -> Path:
    """The file of a ``model`` or ``map`` source (only built-in classes come without one)."""
    if source.path is None:
        raise InputError(f"class {source.name!r} ({source.kind}) has no file; give its PDB/mmCIF/MRC path")
    return source.path


def _from_model(source: Source, params: StructureParams) -> ClassBuild:
    st = source.structure if source.structure is not None else read_structure_file(_file_of(source))
    model = prepare_model(st, assembly=params.assembly_of(source.name), keep_waters=params.keep_waters,
                          keep_ligands=params.keep_ligands, path=source.path)
    atoms = atoms_from_model(model, implicit_hydrogens=params.implicit_hydrogens, path=source.path)
    template = potential_from_atoms(atoms, params.voxel_size_a, fine_spacing_a=params.fine_spacing_a,
                                    pad_voxels=params.pad_voxels)
    rel = atoms.xyz_a - atoms.centre_of_mass_a()
    radius = float(np.sqrt((rel ** 2).sum(axis=1)).max())
    return ClassBuild(source.name, source.pdb_id, template, atoms.mass_kda, radius, rel, len(atoms))


def _from_map(source: Source, params: StructureParams) -> ClassBuild:
    path = _file_of(source)
    volume, map_voxel = read_map(path)
    if map_voxel <= 0:
        raise InputError("the MRC header has no voxel size; set it (e.g. with mrcfile) before using the map", path)
    if len(set(volume.shape)) != 1:
        raise InputError(f"expected a cubic map, got shape {volume.shape}; pad it to a cube", path)
    volume = subtract_background(volume)
    if source.name in params.map_single_body:
        volume = largest_body(volume, params.map_iso_fraction)
    mass = given_mass_kda(path, source.name, params.map_masses_kda)
    if mass is None:
        mass = estimate_mass_kda(volume, map_voxel, params.map_iso_fraction)
    try:
        template, radius = template_from_map(volume, map_voxel, params.voxel_size_a, mass,
                                             pad_voxels=params.pad_voxels, fraction=params.map_iso_fraction)
    except ValueError as exc:
        raise InputError(f"unusable map ({exc})", path) from None
    level = iso_level_v(params)
    idx = np.argwhere(template > level)
    if len(idx) < 3:
        idx = np.argwhere(template >= np.sort(template.ravel())[-3])
    c = template.shape[0] // 2
    points = (idx[:, ::-1] - c) * params.voxel_size_a
    n_equiv = int(round(mass * 1000.0 / mean_atom_mass_da()))
    # balls and bounding radius both cover the isosurface body: voxel centres + half a voxel
    margin = 0.5 * params.voxel_size_a
    radius = max(radius, float(np.sqrt((points ** 2).sum(axis=1)).max()) + margin)
    return ClassBuild(source.name, source.pdb_id, template, mass, radius, points.astype(float), n_equiv,
                      ball_margin_a=margin)


def _check_class_names(params: StructureParams, sources: list[Source]) -> None:
    """Per-class settings must name classes of a file library (a typo would silently do nothing).

    The built-in library has none of these settings' classes (they name files, e.g. SHREC's PDB
    ids in the shrec2020 preset), so they are not checked, and do nothing, there.
    """
    names = {s.name for s in sources}
    maps = {s.name for s in sources if s.kind == "map"}
    unknown = sorted(set(params.assemblies) - names)
    not_maps = sorted(set(params.map_single_body) - maps)
    if unknown:
        raise InputError(f"structures.assemblies names {unknown}, not classes of the library ({sorted(names)})")
    if not_maps:
        raise InputError(f"structures.map_single_body names {not_maps}, not map classes of the library "
                         f"(maps: {sorted(maps) or 'none'})")


def _class_builds(params: StructureParams, progress: bool) -> list[ClassBuild]:
    if params.source.strip().lower() == "builtin":
        sources = [Source(spec.name, "builtin", structure=st) for spec, st in builtin_structures(params.seed)]
    else:
        sources = resolve_sources(params.source, cache_dir=params.cache_dir, url_template=params.pdb_url,
                                  offline=params.offline)
        _check_class_names(params, sources)
    return [_from_map(s, params) if s.kind == "map" else _from_model(s, params)
            for s in tqdm(sources, desc="structures", unit="class", disable=not progress)]


def build_library_report(params: StructureParams | None = None, *, progress: bool = False) -> BuildResult:
    """Build the library and the multi-ball comparison table (Fig. 8 of the multi-ball paper)."""
    params = params or StructureParams()
    level = iso_level_v(params)
    builds = sorted(_class_builds(params, progress), key=lambda b: (b.mass_kda, b.name))
    records, templates, balls, report = [], {}, {}, []
    for label, b in enumerate(builds, start=1):
        metrics = isosurface_metrics(b.template, params.voxel_size_a, level)
        records.append(class_record(b.name, label, b.pdb_id, b.mass_kda, metrics, b.radius_a / 10.0))
        templates[b.name] = b.template
        rng = np.random.default_rng([params.seed, label])
        k = min(n_balls(b.n_atoms, params.balls_per_atoms, params.min_balls), len(b.points_a))
        balls[b.name] = ball_model(b.points_a, k, rng, margin_a=b.ball_margin_a)
        spacing = max(1.0, b.radius_a / 60.0)
        report.append(ball_report_row(b.name, balls[b.name], b.radius_a, metrics.volume_nm3, spacing))
    library = StructureLibrary(ClassTable.from_records(records), params.voxel_size_a, templates, balls)
    return BuildResult(library, pd.DataFrame(report), level)


def build_library(params: StructureParams | None = None) -> StructureLibrary:
    """The structure library of ``params`` (class table, templates in V, ball models in Å)."""
    return build_library_report(params).library


def write_outputs(result: BuildResult, out: str | Path, *, pictures: bool = True) -> Path:
    """Save the library (library.py layout), ``balls/report.csv`` and, with ``pictures``, the PNGs."""
    from generator.structures.library import save_library

    out = save_library(result.library, out)
    (out / "balls").mkdir(exist_ok=True)
    result.ball_report.to_csv(out / "balls" / "report.csv", index=False, float_format="%.4g")
    if pictures:
        from generator.structures.pictures import ball_chart, library_picture

        library_picture(result.library, result.iso_level_v, out / "library.png")
        ball_chart(result.ball_report, out / "balls" / "report.png")
    return out
