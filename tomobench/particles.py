"""Particle lists: the in-memory form and the formats of docs/conventions.md.

In memory a particle list is a :class:`pandas.DataFrame` with the columns
:data:`PICK_COLUMNS` in submission order: ``class`` (str), ``x y z`` (voxels,
0-based, float), ``phi theta psi`` (ZXZ degrees, NaN when absent), ``score``
(NaN when absent), ``tomo`` (str, ``""`` for a single tomogram) and ``line``
(the 1-based line of the source file, for error messages; 0 if none).

Formats (:data:`FORMATS`), detected from the extension or forced:

* ``shrec``: ``class x y z [phi theta psi]``, whitespace separated (``.txt``);
* ``csv``: a header with ``class,x,y,z`` and optionally ``phi,theta,psi,score,tomo``;
* ``star``: RELION STAR (ZYZ angles converted; ``rlnClassNumber`` maps through
  the class table's labels, ``rlnTomoName`` / ``rlnMicrographName`` give ``tomo``);
* ``copick``: copick picks JSON, locations in Å (needs the voxel size), the
  rotation part of ``transformation_`` as the particle's rotation matrix.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.errors import InputError
from tomobench.euler import euler_to_matrix, matrix_to_euler, relion_to_zxz, zxz_to_relion

PICK_COLUMNS = ["class", "x", "y", "z", "phi", "theta", "psi", "score", "tomo", "line"]
ANGLE_COLUMNS = ["phi", "theta", "psi"]
FORMATS = ("shrec", "csv", "star", "copick")
DEFAULT_MAX_PICKS = 1_000_000
EXTENSIONS = {".txt": "shrec", ".csv": "csv", ".star": "star", ".json": "copick"}   # file extension -> format


def empty_particles() -> pd.DataFrame:
    return make_particles([], np.zeros((0, 3)))


def make_particles(classes, xyz, angles=None, score=None, tomo=None, line=None) -> pd.DataFrame:
    """Build a particle list from arrays: ``xyz`` (N, 3) voxels, ``angles`` (N, 3) ZXZ degrees."""
    xyz = np.asarray(xyz, dtype=float).reshape(-1, 3)
    n = len(xyz)
    angles = np.full((n, 3), np.nan) if angles is None else np.asarray(angles, dtype=float).reshape(n, 3)
    df = pd.DataFrame({
        "class": pd.Series(list(classes), dtype=object).astype(str) if n else pd.Series([], dtype=object),
        "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
        "phi": angles[:, 0], "theta": angles[:, 1], "psi": angles[:, 2],
        "score": np.full(n, np.nan) if score is None else np.asarray(score, dtype=float),
        "tomo": [""] * n if tomo is None else [str(t) for t in (tomo if not isinstance(tomo, str) else [tomo] * n)],
        "line": np.zeros(n, dtype=int) if line is None else np.asarray(line, dtype=int),
    })
    return df[PICK_COLUMNS]


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    """The format of a particle-list file: ``fmt`` if given, else from the extension."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", path)
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    sniffed = sniff_format(path)
    if sniffed is not None:
        return sniffed
    raise InputError(
        f"cannot tell the format from the extension {suffix!r} or the content; use .txt (SHREC), .csv, "
        f".star or .json (copick), or pass --format", path)


def sniff_format(path: str | Path) -> str | None:
    """Guess the format from the first kilobytes of a file with an unfamiliar extension."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace").lstrip("\ufeff")
    except OSError:
        return None
    lines = [ln.strip() for ln in head.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        return None
    if lines[0][0] in "[{":
        return "copick"
    if any(ln.startswith("data_") for ln in lines) and "_rln" in head:
        return "star"
    first = [f.strip().lower() for f in lines[0].split(",")]
    if {"class", "x", "y", "z"} <= set(first):
        return "csv"
    if len(lines[0].split()) in (4, 7):
        return "shrec"
    return None


# --------------------------------------------------------------------------- reading

def read_particles(path: str | Path, fmt: str | None = None, *, voxel_size_a: float | None = None,
                   label_to_class: dict[int, str] | None = None,
                   max_picks: int = DEFAULT_MAX_PICKS) -> pd.DataFrame:
    """Read a particle list in any format of docs/conventions.md; see the module docstring.

    Raises :class:`InputError` naming the file and line for anything malformed:
    missing columns, non-numeric or non-finite values, an empty file, more than
    ``max_picks`` picks, or bytes that are not UTF-8.
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    if not path.is_file():
        raise InputError("file not found; check the path", path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8", path, line) from None
    if not text.strip():
        raise InputError("the file is empty; a submission needs at least one pick", path)
    reader = {"shrec": _read_shrec, "csv": _read_csv, "star": _read_star, "copick": _read_copick}[fmt]
    if fmt == "star":
        df = reader(path, text, label_to_class, max_picks)
    elif fmt == "copick":
        df = reader(path, text, voxel_size_a, max_picks)
    else:
        df = reader(path, text, max_picks)
    if len(df) == 0:
        raise InputError("the file holds no picks", path)
    return df


def _check_count(n: int, max_picks: int, path: Path) -> None:
    if n > max_picks:
        raise InputError(f"{n:,} picks exceed the limit of {max_picks:,}; remove low-scoring picks "
                         f"or raise the limit (--max-picks)", path)


def _number(token: str, what: str, path: Path, line: int) -> float:
    try:
        value = float(token)
    except ValueError:
        raise InputError(f"{what} is {token!r}, not a number", path, line) from None
    if not math.isfinite(value):
        raise InputError(f"{what} is {token!r}; coordinates and angles must be finite", path, line)
    return value


def _read_shrec(path: Path, text: str, max_picks: int) -> pd.DataFrame:
    classes, xyz, angles, lines = [], [], [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        tokens = stripped.split()
        if len(tokens) not in (4, 7):
            raise InputError(f"expected 'class x y z' or 'class x y z phi theta psi', found {len(tokens)} "
                             f"fields: {stripped[:80]!r}", path, lineno)
        classes.append(tokens[0])
        xyz.append([_number(t, n, path, lineno) for t, n in zip(tokens[1:4], "xyz")])
        angles.append([_number(t, n, path, lineno) for t, n in zip(tokens[4:7], ANGLE_COLUMNS)]
                      if len(tokens) == 7 else [np.nan] * 3)
        lines.append(lineno)
        _check_count(len(lines), max_picks, path)
    return make_particles(classes, np.array(xyz).reshape(-1, 3), np.array(angles).reshape(-1, 3), line=lines)


def _read_csv(path: Path, text: str, max_picks: int) -> pd.DataFrame:
    rows = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(rows)]
    missing = [c for c in ("class", "x", "y", "z") if c not in header]
    if missing:
        raise InputError(f"the header lacks the column(s) {missing}; it needs class,x,y,z "
                         f"(optionally phi,theta,psi,score,tomo), found {header}", path, 1)
    col = {name: header.index(name) for name in header}
    has_angles = all(c in col for c in ANGLE_COLUMNS)
    classes, xyz, angles, score, tomo, lines = [], [], [], [], [], []
    for lineno, fields in enumerate(rows, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(header):
            raise InputError(f"expected {len(header)} fields as in the header, found {len(fields)}", path, lineno)
        get = lambda name: fields[col[name]].strip()  # noqa: E731
        if not get("class"):
            raise InputError("the class is empty", path, lineno)
        classes.append(get("class"))
        xyz.append([_number(get(c), c, path, lineno) for c in "xyz"])
        angles.append([_number(get(c), c, path, lineno) for c in ANGLE_COLUMNS] if has_angles else [np.nan] * 3)
        score.append(_number(get("score"), "score", path, lineno) if "score" in col and get("score") else np.nan)
        tomo.append(get("tomo") if "tomo" in col else "")
        lines.append(lineno)
        _check_count(len(lines), max_picks, path)
    return make_particles(classes, np.array(xyz).reshape(-1, 3), np.array(angles).reshape(-1, 3),
                          score=score, tomo=tomo, line=lines)


def _read_star(path: Path, text: str, label_to_class: dict[int, str] | None, max_picks: int) -> pd.DataFrame:
    import starfile

    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as exc:  # starfile raises assorted parser errors
        raise InputError(f"not a readable STAR file ({exc})", path) from None
    tables = [b for b in blocks.values() if isinstance(b, pd.DataFrame) and "rlnCoordinateX" in b.columns]
    if not tables:
        raise InputError("no data block with rlnCoordinateX/Y/Z; a RELION particle STAR file is expected", path)
    df = tables[-1]
    _check_count(len(df), max_picks, path)
    missing = [c for c in ("rlnCoordinateY", "rlnCoordinateZ") if c not in df.columns]
    if missing:
        raise InputError(f"the particle block lacks {missing}", path)
    xyz = df[["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]].apply(pd.to_numeric, errors="coerce").to_numpy()
    if "rlnOriginXAngst" in df.columns and "rlnImagePixelSize" in df.columns:
        origin = df[["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]].to_numpy(float)
        xyz = xyz - origin / df["rlnImagePixelSize"].to_numpy(float)[:, None]
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        raise InputError("a coordinate is missing, not a number or not finite", path, f"particle {int(np.argmax(bad)) + 1}")
    if all(c in df.columns for c in ("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")):
        relion = df[["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]].to_numpy(float)
        angles = relion_to_zxz(relion[:, 0], relion[:, 1], relion[:, 2]).reshape(-1, 3)
    else:
        angles = np.full((len(df), 3), np.nan)
    if "rlnClassNumber" in df.columns:
        numbers = pd.to_numeric(df["rlnClassNumber"], errors="coerce").fillna(-1).astype(int)
        mapping = label_to_class or {}
        classes = [mapping.get(int(n), str(int(n))) for n in numbers]
    else:
        classes = ["unknown"] * len(df)
    tomo_col = next((c for c in ("rlnTomoName", "rlnMicrographName") if c in df.columns), None)
    tomo = df[tomo_col].astype(str).tolist() if tomo_col else None
    score = pd.to_numeric(df["rlnAutopickFigureOfMerit"], errors="coerce").to_numpy() \
        if "rlnAutopickFigureOfMerit" in df.columns else None
    return make_particles(classes, xyz, angles, score=score, tomo=tomo, line=np.arange(1, len(df) + 1))


def _read_copick(path: Path, text: str, voxel_size_a: float | None, max_picks: int) -> pd.DataFrame:
    if not voxel_size_a or voxel_size_a <= 0:
        raise InputError("copick picks are in Å; the voxel size is needed (it is read from the truth's "
                         "MRC header, or pass --voxel-size)", path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", path, exc.lineno) from None
    docs = doc if isinstance(doc, list) else [doc]
    frames = []
    for i, picks in enumerate(docs):
        if not isinstance(picks, dict) or "points" not in picks:
            raise InputError(f"picks object {i + 1} has no 'points' list (copick picks JSON expected)", path)
        name = str(picks.get("pickable_object_name") or "unknown")
        tomo = str(picks.get("run_name") or "")
        points = picks["points"] or []
        _check_count(sum(len(f) for f in frames) + len(points), max_picks, path)
        xyz, angles, score = [], [], []
        for j, point in enumerate(points):
            where = f"picks object {i + 1}, point {j + 1}"
            try:
                loc = point["location"]
                xyz.append([_number(str(loc[c]), c, path, None) / voxel_size_a for c in "xyz"])
            except (KeyError, TypeError):
                raise InputError(f"{where} lacks location x/y/z", path) from None
            matrix = point.get("transformation_")
            if matrix is not None:
                angles.append(matrix_to_euler(np.asarray(matrix, dtype=float)[:3, :3]))
            else:
                angles.append([np.nan] * 3)
            score.append(float(point.get("score", np.nan)) if point.get("score") is not None else np.nan)
        frames.append(make_particles([name] * len(xyz), np.array(xyz).reshape(-1, 3),
                                     np.array(angles).reshape(-1, 3), score=score, tomo=[tomo] * len(xyz)))
    df = pd.concat(frames, ignore_index=True) if frames else empty_particles()
    df["line"] = np.arange(1, len(df) + 1)
    return df


# --------------------------------------------------------------------------- writing

def write_particles(df: pd.DataFrame, path: str | Path, fmt: str | None = None, *,
                    voxel_size_a: float | None = None, class_to_label: dict[str, int] | None = None) -> Path:
    """Write a particle list in one of :data:`FORMATS` (see :func:`read_particles`)."""
    path = Path(path)
    fmt = detect_format(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    df = df.reset_index(drop=True)
    has_angles = df[ANGLE_COLUMNS].notna().all(axis=None) and len(df) > 0
    if fmt == "shrec":
        with path.open("w", encoding="utf-8") as fh:
            for row in df.itertuples(index=False):
                fields = [row[0], _fmt(row.x), _fmt(row.y), _fmt(row.z)]
                if has_angles:
                    fields += [_fmt(row.phi), _fmt(row.theta), _fmt(row.psi)]
                fh.write(" ".join(fields) + "\n")
    elif fmt == "csv":
        cols = ["class", "x", "y", "z"] + (ANGLE_COLUMNS if has_angles else [])
        if df["score"].notna().any():
            cols.append("score")
        if (df["tomo"] != "").any():
            cols.append("tomo")
        df[cols].to_csv(path, index=False, float_format="%.6g")
    elif fmt == "star":
        _write_star(df, path, has_angles, class_to_label)
    else:
        _write_copick(df, path, voxel_size_a)
    return path


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def _write_star(df: pd.DataFrame, path: Path, has_angles: bool, class_to_label: dict[str, int] | None) -> None:
    import starfile

    out = pd.DataFrame({
        "rlnCoordinateX": df["x"], "rlnCoordinateY": df["y"], "rlnCoordinateZ": df["z"],
    })
    if has_angles:
        relion = zxz_to_relion(df["phi"].to_numpy(), df["theta"].to_numpy(), df["psi"].to_numpy()).reshape(-1, 3)
        out["rlnAngleRot"], out["rlnAngleTilt"], out["rlnAnglePsi"] = relion.T
    if class_to_label is None:
        names = sorted(set(df["class"]))
        class_to_label = {n: i + 1 for i, n in enumerate(names)}
    out["rlnClassNumber"] = [class_to_label.get(c, 0) for c in df["class"]]
    if (df["tomo"] != "").any():
        out["rlnTomoName"] = df["tomo"]
    if df["score"].notna().any():
        out["rlnAutopickFigureOfMerit"] = df["score"]
    starfile.write({"particles": out}, path, overwrite=True)


def _write_copick(df: pd.DataFrame, path: Path, voxel_size_a: float | None) -> None:
    if not voxel_size_a or voxel_size_a <= 0:
        raise ValueError("copick picks are in Å: pass voxel_size_a")
    docs = []
    for (tomo, name), group in df.groupby(["tomo", "class"], sort=False):
        points = []
        for row in group.itertuples(index=False):
            matrix = np.eye(4)
            if not np.isnan([row.phi, row.theta, row.psi]).any():
                matrix[:3, :3] = euler_to_matrix(row.phi, row.theta, row.psi)
            point = {"location": {c: float(getattr(row, c)) * voxel_size_a for c in "xyz"},
                     "transformation_": matrix.tolist(), "instance_id": 0}
            if not math.isnan(row.score):
                point["score"] = float(row.score)
            points.append(point)
        docs.append({"pickable_object_name": name, "user_id": "tomobench", "session_id": "0",
                     "run_name": tomo, "voxel_spacing": voxel_size_a, "unit": "angstrom",
                     "points": points, "trust_orientation": True})
    path.write_text(json.dumps(docs if len(docs) != 1 else docs[0], indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- checks

def check_classes(df: pd.DataFrame, valid: list[str], path: str | Path, *, allow_unknown: bool = True) -> None:
    """Raise :class:`InputError` at the first pick whose class is not in ``valid``."""
    allowed = set(valid) | ({"unknown"} if allow_unknown else set())
    bad = ~df["class"].isin(allowed)
    if bad.any():
        first = df[bad].iloc[0]
        raise InputError(f"unknown class {first['class']!r}; valid classes are: "
                         f"{', '.join(sorted(valid))}" + (", unknown" if allow_unknown else ""),
                         path, int(first["line"]) or None)
