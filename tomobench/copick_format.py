r"""copick picks files and projects.

A copick picks file (``CopickPicksFile``) holds the points of **one** pickable
object in **one** run: locations in Å (voxel ``i`` of the tomogram at
``i * voxel_size``), and a 4 × 4 ``transformation_`` per point whose rotation block
takes the object to the tomogram (tomobench's ``R``) and whose translation column
is a shift in Å *added* to the location: the particle centre is
``location + transformation_[:3, 3]``.

copick object names may not contain ``_``, white space or ``<>:"/\|?*``
(``copick.escape.sanitize_name``); tomobench's class names often do. The mapping,
used for every class: each run of such character becomes ``-`` and leading or
trailing ``-`` are dropped (``pdb_1bxn`` -> ``pdb-1bxn``), copick's own rule. It must be one-to-one
over a class table (checked); picks named either way are accepted when read
with the class table (:func:`resolve_class_names`).

The pydantic models below mirror copick's own (``copick.models``), field for
field, so that tomobench reads and writes copick files without importing copick;
the tests check them against the real package.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError, field_validator

from tomobench.errors import InputError
from tomobench.euler import euler_to_matrix, matrix_to_euler

_INVALID = re.compile(r'[<>:"/\\|?*\x00-\x1F\x7F\s_]')
USER_ID = "tomobench"
TOOL_SESSION = "0"                  # copick: session "0" marks picks made by a tool


class CopickLocation(BaseModel):
    """A point's location in Å (voxel ``i`` at ``i * voxel_size``), as copick's ``CopickLocation``."""

    x: float
    y: float
    z: float


class CopickPoint(BaseModel):
    """One picked point, as copick's ``CopickPoint``: location (Å), 4 x 4 ``transformation_``, score."""

    location: CopickLocation
    transformation_: Optional[list[list[float]]] = np.eye(4).tolist()
    instance_id: Optional[int] = 0
    score: Optional[float] = 1.0

    @field_validator("transformation_")
    @classmethod
    def _affine(cls, value):
        arr = np.asarray(value, dtype=float)
        if arr.shape != (4, 4) or not np.allclose(arr[3], [0, 0, 0, 1]) or not np.isfinite(arr).all():
            raise ValueError("transformation_ must be a finite 4 x 4 matrix with last row [0, 0, 0, 1]")
        return value


class CopickPicksFile(BaseModel):
    """The points of one pickable object in one run, as copick's ``CopickPicksFile`` (one JSON file)."""

    pickable_object_name: str
    user_id: str
    session_id: str
    run_name: Optional[str] = None
    voxel_spacing: Optional[float] = None
    unit: str = "angstrom"
    points: Optional[list[CopickPoint]] = []
    trust_orientation: Optional[bool] = True


def copick_name(class_name: str) -> str:
    """The copick-legal name of a class (see the module docstring)."""
    name = _INVALID.sub("-", str(class_name)).strip("-")
    if not name:
        raise InputError(f"class name {class_name!r} has no character copick allows in an object name")
    return name


def copick_names(class_names: list[str]) -> dict[str, str]:
    """Class name -> copick name for a class table; raises :class:`InputError` if two classes collide."""
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name in class_names:
        legal = copick_name(name)
        if legal in seen:
            raise InputError(f"classes {seen[legal]!r} and {name!r} both become the copick name {legal!r}; "
                             f"rename one in classes.csv")
        seen[legal] = name
        mapping[name] = legal
    return mapping


def resolve_class_names(classes: pd.Series, class_names: list[str]) -> pd.Series:
    """Map copick-legal names back to class names (names already in ``class_names`` stay as they are)."""
    known = set(class_names)
    legal = {name: copick_name(name) for name in class_names if _INVALID.sub("", name).strip("-")}
    counts = pd.Series(list(legal.values())).value_counts()
    # an ambiguous copick name (two classes map to it) is left as it is, and is then an unknown class
    back = {lg: name for name, lg in legal.items() if lg not in known and counts[lg] == 1}
    return classes.map(lambda c: c if c in known else back.get(c, c))


# --------------------------------------------------------------------------- picks files

def picks_files(df: pd.DataFrame, voxel_size_a: float | None, *, user_id: str = USER_ID,
                session_id: str = TOOL_SESSION) -> list[CopickPicksFile]:
    """One :class:`CopickPicksFile` per (tomogram, class) of a particle list, classes under their copick names.

    Parameters
    ----------
    df : pandas.DataFrame
        N rows with the columns :data:`tomobench.particles.PICK_COLUMNS` (voxels, ZXZ degrees).
    voxel_size_a : float or None
        The tomogram's voxel size in Å per voxel (locations are written in Å); ValueError without it.
    user_id, session_id : str
        copick's user and session of the picks.

    Returns
    -------
    list of CopickPicksFile
        Sorted by (tomogram, class); points keep the row order, with rotations when every pick of
        the group has angles (``trust_orientation``).
    """
    if not voxel_size_a or voxel_size_a <= 0:
        raise ValueError("copick picks are in Å: pass voxel_size_a")
    names = copick_names(sorted(set(df["class"])))
    files = []
    for (tomo, name), group in df.groupby(["tomo", "class"], sort=True):
        angles = group[["phi", "theta", "psi"]].to_numpy(float)
        oriented = bool(np.isfinite(angles).all())
        points = []
        row: Any  # an itertuples row: pandas-stubs type its fields as any Scalar; these are floats
        for i, row in enumerate(group.itertuples(index=False)):
            matrix = np.eye(4)
            if oriented:
                matrix[:3, :3] = euler_to_matrix(*angles[i])
            score = None if np.isnan(row.score) else float(row.score)
            points.append(CopickPoint(location=CopickLocation(**{c: float(getattr(row, c)) * voxel_size_a
                                                                  for c in "xyz"}),
                                      transformation_=matrix.tolist(), score=score))
        files.append(CopickPicksFile(pickable_object_name=names[str(name)], user_id=user_id, session_id=session_id,
                                     run_name=tomo or None, voxel_spacing=voxel_size_a, points=points,
                                     trust_orientation=oriented))
    return files


def picks_file_name(picks: CopickPicksFile) -> str:
    """Copick's file name of a picks file: ``<user>_<session>_<object>.json``."""
    return f"{picks.user_id}_{picks.session_id}_{picks.pickable_object_name}.json"


def write_picks_file(df: pd.DataFrame, path: str | Path, voxel_size_a: float | None) -> Path:
    """Write the picks of one class in one tomogram as one copick picks file (``.json``)."""
    files = picks_files(df, voxel_size_a)
    if len(files) != 1:
        raise ValueError(f"a copick picks file holds one object in one run; these picks make {len(files)} "
                         f"(class, tomogram) groups: use write_copick_picks(df, folder, ...) instead")
    path = Path(path)
    path.write_text(files[0].model_dump_json(indent=1), encoding="utf-8")
    return path


def write_copick_picks(df: pd.DataFrame, overlay: str | Path, voxel_size_a: float, *,
                       user_id: str = USER_ID, session_id: str = TOOL_SESSION) -> list[Path]:
    """Write every (tomogram, class) group as one copick picks file under ``overlay``.

    The files are ``<overlay>/ExperimentRuns/<run>/Picks/<user>_<session>_<object>.json``, copick's
    layout, so that ``overlay`` serves as a copick overlay root.
    """
    written = []
    for picks in picks_files(df, voxel_size_a, user_id=user_id, session_id=session_id):
        if not picks.run_name:
            raise ValueError("copick runs need names: set the picks' tomo column")
        path = Path(overlay) / "ExperimentRuns" / picks.run_name / "Picks" / picks_file_name(picks)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(picks.model_dump_json(indent=1), encoding="utf-8")
        written.append(path)
    return written


def _points_frame(picks: CopickPicksFile, voxel_size_a: float, path: Path, index: int) -> pd.DataFrame:
    if picks.unit.lower() not in ("angstrom", "a", "å"):
        raise InputError(f"picks object {index}: unit {picks.unit!r}; copick picks are in angstrom", path)
    points = picks.points or []
    centres_a = np.array([[p.location.x, p.location.y, p.location.z] for p in points]).reshape(-1, 3)
    matrices = np.array([p.transformation_ for p in points], dtype=float).reshape(-1, 4, 4)
    centres_a = centres_a + matrices[:, :3, 3]          # copick: centre = location + translation
    if not np.isfinite(centres_a).all():
        raise InputError(f"picks object {index}: a location is not finite", path)
    angles = matrix_to_euler(matrices[:, :3, :3]).reshape(-1, 3) if picks.trust_orientation is not False \
        else np.full((len(points), 3), np.nan)
    xyz = centres_a / voxel_size_a
    return pd.DataFrame({"class": [picks.pickable_object_name] * len(points), "x": xyz[:, 0], "y": xyz[:, 1],
                         "z": xyz[:, 2], "phi": angles[:, 0], "theta": angles[:, 1], "psi": angles[:, 2],
                         "score": [np.nan if p.score is None else p.score for p in points],
                         "tomo": [picks.run_name or ""] * len(points)})


def read_picks_json(path: Path, text: str, voxel_size_a: float | None) -> pd.DataFrame:
    """Points of a copick picks file (or a JSON list of them) as ``class x y z phi theta psi score tomo``.

    Parameters
    ----------
    path : Path
        The file, named in errors.
    text : str
        Its content.
    voxel_size_a : float or None
        The tomogram's voxel size in Å per voxel (locations in Å are divided by it); InputError without it.

    Returns
    -------
    pandas.DataFrame
        One row per point: centre x, y, z in voxels, ZXZ angles in degrees (NaN unless the orientation
        is trusted), score, ``tomo`` = the run name.
    """
    if not voxel_size_a or voxel_size_a <= 0:
        raise InputError("copick picks are in Å; the voxel size is needed (it is read from the truth's "
                         "MRC header, or pass --voxel-size)", path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path, exc.lineno) from None
    frames = []
    for i, item in enumerate(doc if isinstance(doc, list) else [doc], start=1):
        if isinstance(item, dict):
            item.setdefault("user_id", "unknown")       # older files without user/session ids
            item.setdefault("session_id", "0")
        try:
            picks = CopickPicksFile.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"picks object {i} is not a copick picks file: {where}: {first['msg']}", path) from None
        frames.append(_points_frame(picks, voxel_size_a, path, i))
    columns = ["class", "x", "y", "z", "phi", "theta", "psi", "score", "tomo"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
