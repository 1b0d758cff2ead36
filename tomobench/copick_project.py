"""``tomobench dataset export-copick``: a copick project of a packaged dataset.

Layout written under ``OUT`` (copick's filesystem backend, ``OUT`` as the overlay root)::

    OUT/copick_config.json                        pickable objects = the class table
    OUT/ExperimentRuns/<tomo>/VoxelSpacing<v>/wbp.zarr        the reconstruction (OME-Zarr)
    OUT/ExperimentRuns/<tomo>/Picks/tomobench_0_<object>.json  the training truth, one file per class

Runs are the training tomograms (with their picks) and, with ``--split all``, the
test tomograms (reconstruction only: their truth is private). Objects carry the
copick-legal class names (:func:`tomobench.copick_format.copick_name`) and the
tomobench name in ``metadata["tomobench_class"]``. Needs the optional
dependency ``copick`` (``pip install "tomobench[copick]"``), which writes the
OME-Zarr pyramids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tomobench.classes import ClassTable, read_classes
from tomobench.copick_format import copick_names, write_copick_picks
from tomobench.errors import InputError
from tomobench.groundtruth import PARTICLE_LOCATIONS, RECONSTRUCTION
from tomobench.particles import read_particles
from tomobench.volumes import read_volume

CONFIG = "copick_config.json"
TOMO_TYPE = "wbp"
SPLITS = ("train", "all")


def _colour(index: int) -> list[int]:
    from matplotlib import colormaps

    r, g, b, _ = colormaps["tab20"](index % 20)
    return [int(round(255 * r)), int(round(255 * g)), int(round(255 * b)), 255]


def pickable_objects(classes: ClassTable) -> list[dict]:
    """Copick ``PickableObject`` records for every class (radius in Å, label as in the class table)."""
    names = copick_names(classes.names)
    objects = []
    row: Any  # an itertuples row: pandas-stubs type its fields as any Scalar; the class table's are typed
    for i, row in enumerate(classes.table.itertuples(index=False)):
        record = {"name": names[row.class_name], "is_particle": True, "label": int(row.label),
                  "color": _colour(i), "metadata": {"tomobench_class": row.class_name, "kind": row.kind}}
        if row.pdb_id:
            record["pdb_id"] = row.pdb_id
        if np.isfinite(row.radius_nm):
            record["radius"] = float(row.radius_nm) * 10.0
        objects.append(record)
    return objects


def project_config(classes: ClassTable, out: Path, name: str) -> dict:
    """The copick filesystem configuration (an absolute ``local://`` overlay root: copick needs one).

    Runs, voxel spacings and tomograms are found in the folders, not listed in the config.
    """
    return {"config_type": "filesystem", "name": name,
            "description": f"{name}: a tomobench dataset exported with `tomobench dataset export-copick`",
            "version": "0.2.0", "pickable_objects": pickable_objects(classes), "user_id": "tomobench",
            "overlay_root": f"local://{out.resolve().as_posix()}", "overlay_fs_args": {"auto_mkdir": True}}


def _runs(public: Path, split: str) -> list[tuple[str, Path, bool]]:
    """(run name, tomogram folder, has picks) for the chosen split."""
    runs = [(f.name, f, True) for f in sorted((public / "train").glob("tomo_*")) if f.is_dir()]
    if split == "all":
        runs += [(f.name, f, False) for f in sorted((public / "test").glob("tomo_*")) if f.is_dir()]
    if not runs:
        raise InputError("no tomogram folders under train/ (or test/); is this a packaged public dataset?", public)
    return runs


def export_copick(public: str | Path, out: str | Path, *, split: str = "train", name: str | None = None,
                  levels: int = 1) -> Path:
    """Write a copick project of the public dataset ``public`` into ``out``; returns the config's path.

    ``levels``: OME-Zarr pyramid levels of each tomogram (1 = full resolution only).
    """
    try:
        import copick
    except ImportError:
        raise InputError('the copick export needs copick: pip install "tomobench[copick]"') from None
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    public, out = Path(public), Path(out)
    classes = read_classes(public / "classes.csv")
    runs = _runs(public, split)
    _, voxel_size_a = read_volume(runs[0][1] / RECONSTRUCTION, mmap=True)
    if voxel_size_a <= 0:
        raise InputError("the reconstruction's header has no voxel size", runs[0][1] / RECONSTRUCTION)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / CONFIG
    config = project_config(classes, out, name or public.resolve().name)
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    root = copick.from_file(str(config_path))
    label_to_class = classes.name_of_label()
    for run_name, folder, has_picks in runs:
        volume, run_voxel_a = read_volume(folder / RECONSTRUCTION)
        if not np.isclose(run_voxel_a, voxel_size_a):
            raise InputError(f"voxel size {run_voxel_a} Å differs from {voxel_size_a} Å of {runs[0][0]}; "
                             f"one copick voxel spacing per project", folder / RECONSTRUCTION)
        run = root.new_run(run_name, exist_ok=True)
        spacing = run.new_voxel_spacing(voxel_size_a, exist_ok=True)
        spacing.new_tomogram(TOMO_TYPE, exist_ok=True).from_numpy(np.asarray(volume, dtype=np.float32),
                                                                 levels=levels)
        if has_picks:
            picks = read_particles(folder / PARTICLE_LOCATIONS, "shrec", label_to_class=label_to_class)
            write_copick_picks(picks.assign(tomo=run_name), out, voxel_size_a)
    return config_path
