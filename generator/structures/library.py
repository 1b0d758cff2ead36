"""A structure library on disk and in memory (the contract between structures, scene and baselines).

On disk (``tomobench structures --out DIR``)::

    DIR/classes.csv          the class table (tomobench.classes)
    DIR/<class>.mrc          the class template: electron scattering potential on a
                             cubic grid at the library's voxel size; the centre of mass
                             sits on the centre voxel (index n // 2 on each axis)
    DIR/balls/<class>.csv    the multi-ball model: columns x_a, y_a, z_a, radius_a (Å),
                             centres relative to the template centre, template frame (x, y, z)

In memory: :class:`StructureLibrary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.classes import ClassTable, read_classes, write_classes
from tomobench.errors import InputError
from tomobench.volumes import read_volume, write_volume

BALL_COLUMNS = ["x_a", "y_a", "z_a", "radius_a"]


@dataclass
class StructureLibrary:
    """Class table, templates (``[z, y, x]`` float32) and ball models (``(k, 4)``: x, y, z, r in Å)."""

    classes: ClassTable
    voxel_size_a: float
    templates: dict[str, np.ndarray] = field(default_factory=dict)
    balls: dict[str, np.ndarray] = field(default_factory=dict)


def save_library(library: StructureLibrary, folder: str | Path) -> Path:
    """Write ``library`` to ``folder`` (created): ``classes.csv``, one ``NAME.mrc`` per template, ``balls/NAME.csv``.

    Returns the folder, as a :class:`~pathlib.Path`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_classes(library.classes, folder / "classes.csv")
    for name, template in library.templates.items():
        write_volume(folder / f"{name}.mrc", template, library.voxel_size_a)
    if library.balls:
        (folder / "balls").mkdir(exist_ok=True)
        for name, balls in library.balls.items():
            pd.DataFrame(np.asarray(balls).reshape(-1, 4), columns=BALL_COLUMNS).to_csv(
                folder / "balls" / f"{name}.csv", index=False, float_format="%.4f")
    return folder


def load_library(folder: str | Path, *, with_templates: bool = True) -> StructureLibrary:
    """Read a library written by :func:`save_library` (templates of protein classes that have one)."""
    folder = Path(folder)
    classes = read_classes(folder / "classes.csv")
    templates, balls, voxel_sizes = {}, {}, set()
    for name in classes.names:
        mrc = folder / f"{name}.mrc"
        if with_templates and mrc.is_file():
            templates[name], voxel_size = read_volume(mrc)
            voxel_sizes.add(round(voxel_size, 4))
        ball_csv = folder / "balls" / f"{name}.csv"
        if ball_csv.is_file():
            balls[name] = pd.read_csv(ball_csv)[BALL_COLUMNS].to_numpy(float)
    if len(voxel_sizes) > 1:
        raise InputError(f"templates have different voxel sizes {sorted(voxel_sizes)}", folder)
    voxel_size_a = voxel_sizes.pop() if voxel_sizes else float("nan")
    return StructureLibrary(classes, voxel_size_a, templates, balls)
