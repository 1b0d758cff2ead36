"""Particle lists: the in-memory form and the file formats (docs/conventions.md).

In memory a particle list is a :class:`pandas.DataFrame` with the columns
:data:`PICK_COLUMNS` in submission order: ``class`` (str), ``x y z`` (voxels,
0-based, float), ``phi theta psi`` (ZXZ degrees, NaN when absent), ``score``
(NaN when absent), ``tomo`` (str, ``""`` for a single tomogram) and ``line``
(the 1-based line of the source file, for error messages; 0 if none).

Formats (:data:`FORMATS`), detected from the extension or forced:

* ``shrec``: ``class x y z [phi theta psi]``, whitespace separated (``.txt``);
* ``csv``: a header with ``class,x,y,z`` and optionally ``phi,theta,psi,score,tomo``;
* ``star``: RELION 4/5 tomography STAR (:mod:`tomobench.relion`: ZYZ angles
  converted, origins applied, centred Å coordinates; ``rlnClassNumber`` maps through
  the class table's labels, ``rlnTomoName`` / ``rlnMicrographName`` give ``tomo``);
* ``copick``: a copick picks file (:mod:`tomobench.copick_format`): locations in Å
  (needs the voxel size) plus the translation of ``transformation_``, whose rotation
  block is the particle's rotation matrix.

Given the class table (``label_to_class``), class names written under their
copick-legal names (``pdb-1bxn`` for ``pdb_1bxn``) are mapped back, in any format.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.errors import InputError

PICK_COLUMNS = ["class", "x", "y", "z", "phi", "theta", "psi", "score", "tomo", "line"]
ANGLE_COLUMNS = ["phi", "theta", "psi"]
FORMATS = ("shrec", "csv", "star", "copick")
DEFAULT_MAX_PICKS = 1_000_000
EXTENSIONS = {".txt": "shrec", ".csv": "csv", ".star": "star", ".json": "copick"}   # file extension -> format


def empty_particles() -> pd.DataFrame:
    """A particle list with no rows (the columns :data:`PICK_COLUMNS`, typed as in a full one)."""
    return make_particles([], np.zeros((0, 3)))


def make_particles(classes, xyz, angles=None, score=None, tomo=None, line=None) -> pd.DataFrame:
    """Build a particle list from arrays.

    Parameters
    ----------
    classes : sequence of str
        (N,) class name of each particle.
    xyz : array_like
        (N, 3) centres x, y, z in voxels of the tomogram, 0-based (anything that reshapes to it).
    angles : array_like, optional
        (N, 3) ZXZ Euler angles ``phi, theta, psi`` in degrees (:mod:`tomobench.euler`); NaN when None.
    score : array_like, optional
        (N,) the picker's score of each pick (on its own scale); NaN when None.
    tomo : str or sequence of str, optional
        The tomogram name of every particle (one str) or of each (N,); ``""`` when None.
    line : array_like of int, optional
        (N,) 1-based line of each particle in its source file; 0 when None.

    Returns
    -------
    pandas.DataFrame
        N rows, the columns :data:`PICK_COLUMNS` in that order.
    """
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
    """The format of a particle-list file: ``fmt`` if given, else from the extension, else the content.

    Parameters
    ----------
    path : str or Path
        The particle-list file.
    fmt : str, optional
        One of :data:`FORMATS`, which then wins.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    InputError
        When ``fmt`` is unknown, or neither the extension nor the content tells the format.
    """
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
                   max_picks: int = DEFAULT_MAX_PICKS, tomo_shape_xyz=None) -> pd.DataFrame:
    """Read a particle list in any format of :data:`FORMATS`; see the module docstring.

    Parameters
    ----------
    path : str or Path
        The particle-list file.
    fmt : str, optional
        One of :data:`FORMATS`; detected by :func:`detect_format` when None.
    voxel_size_a : float, optional
        The tomogram's voxel size in Å per voxel: converts copick and RELION Å coordinates and
        shifts to voxels.
    label_to_class : dict of int to str, optional
        Class-table label -> class name, for STAR ``rlnClassNumber`` and copick-legal names.
    max_picks : int
        Refuse files with more picks than this.
    tomo_shape_xyz : array_like of int, optional
        (3,) the tomogram's x, y, z size in voxels; needed for RELION 5 centred coordinates only.

    Returns
    -------
    pandas.DataFrame
        N rows, the columns :data:`PICK_COLUMNS`, positions in voxels, angles ZXZ in degrees.

    Raises
    ------
    InputError
        Naming the file and line for anything malformed: missing columns, non-numeric or non-finite
        values, an empty file, more than ``max_picks`` picks, or bytes that are not UTF-8.
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
    try:
        if fmt == "star":
            df = _read_star(path, label_to_class, voxel_size_a, tomo_shape_xyz, max_picks)
        elif fmt == "copick":
            df = _read_copick(path, text, voxel_size_a, max_picks)
        elif fmt == "csv":
            df = _read_csv(path, text, max_picks)
        else:
            df = _read_shrec(path, text, max_picks)
    except InputError:
        raise
    except RecursionError:      # json.loads of a deeply nested document
        raise InputError(f"the {fmt} file is nested too deeply to be a particle list", path) from None
    except (csv.Error, ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        # the readers check what they can; anything else malformed is still the user's input, not a crash
        raise InputError(f"not a readable {fmt} particle list ({type(exc).__name__}: {str(exc)[:200]})",
                         path) from None
    if len(df) == 0:
        raise InputError("the file holds no picks", path)
    if label_to_class:
        from tomobench.copick_format import resolve_class_names
        df["class"] = resolve_class_names(df["class"], list(label_to_class.values()))
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


def _csv_rows(path: Path, text: str):
    """``csv.reader`` rows, its errors (an over-long field, a stray NUL) as :class:`InputError` with the line."""
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"not a readable CSV line ({exc}); a line holds class,x,y,z[,...] separated by "
                             f"commas", path, reader.line_num) from None
        yield fields


def _read_csv(path: Path, text: str, max_picks: int) -> pd.DataFrame:
    fast = _read_csv_fast(text, max_picks)
    return fast if fast is not None else _read_csv_checked(path, text, max_picks)


def _read_csv_fast(text: str, max_picks: int) -> pd.DataFrame | None:
    """A well-formed CSV particle list, parsed column by column; None when anything is off.

    The same values as :func:`_read_csv_checked` (the same ``csv`` module, the same ``float``: a
    number ``float`` parses with its surrounding white space is the number it parses stripped),
    several times faster. On None the caller re-reads with the checked reader, which names the
    first bad line.
    """
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return None
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if not {"class", "x", "y", "z"} <= set(header):
        return None
    col = {name: header.index(name) for name in header}
    kept = [i for i, fields in enumerate(rows[1:]) if fields]      # empty lines skipped
    body = rows[1:] if len(kept) == len(rows) - 1 else [rows[i + 1] for i in kept]
    if len(body) > max_picks or set(map(len, body)) - {len(header)}:
        return None                 # a line of blanks or commas only is left to the checked reader too
    columns = list(zip(*body)) or [()] * len(header)
    has_angles = all(c in col for c in ANGLE_COLUMNS)
    score_text = [f.strip() for f in columns[col["score"]]] if "score" in col else [""] * len(body)
    try:
        xyz = np.array([[float(f) for f in columns[col[c]]] for c in "xyz"], dtype=float).T
        angles = np.array([[float(f) for f in columns[col[c]]] for c in ANGLE_COLUMNS], dtype=float).T \
            if has_angles else np.full((len(body), 3), np.nan)
        score = [float(f) if f else np.nan for f in score_text]
    except ValueError:
        return None
    classes = [f.strip() for f in columns[col["class"]]]
    no_score = np.array([not f for f in score_text], dtype=bool)     # NaN there; a given score must be finite
    finite = (np.isfinite(xyz).all() and (not has_angles or np.isfinite(angles).all())
              and (np.isfinite(score) | no_score).all())
    if not (finite and all(classes)):
        return None
    return make_particles(classes, xyz.reshape(-1, 3), angles.reshape(-1, 3), score=score,
                          tomo=[f.strip() for f in columns[col["tomo"]]] if "tomo" in col else [""] * len(body),
                          line=[i + 2 for i in kept])


def _read_csv_checked(path: Path, text: str, max_picks: int) -> pd.DataFrame:
    rows = _csv_rows(path, text)
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
        get = lambda name, fields=fields: fields[col[name]].strip()  # noqa: E731
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


def _read_star(path: Path, label_to_class: dict[int, str] | None, voxel_size_a: float | None,
               tomo_shape_xyz, max_picks: int) -> pd.DataFrame:
    from tomobench.relion import read_star

    df = read_star(path, label_to_class=label_to_class, voxel_size_a=voxel_size_a, tomo_shape_xyz=tomo_shape_xyz)
    _check_count(len(df), max_picks, path)
    return make_particles(df["class"], df[["x", "y", "z"]].to_numpy(), df[["phi", "theta", "psi"]].to_numpy(),
                          score=df["score"].to_numpy(), tomo=df["tomo"].tolist(), line=np.arange(1, len(df) + 1))


def _read_copick(path: Path, text: str, voxel_size_a: float | None, max_picks: int) -> pd.DataFrame:
    from tomobench.copick_format import read_picks_json

    df = read_picks_json(path, text, voxel_size_a)
    _check_count(len(df), max_picks, path)
    return make_particles(df["class"], df[["x", "y", "z"]].to_numpy(), df[["phi", "theta", "psi"]].to_numpy(),
                          score=df["score"].to_numpy(), tomo=df["tomo"].tolist(), line=np.arange(1, len(df) + 1))


# --------------------------------------------------------------------------- writing

def write_particles(df: pd.DataFrame, path: str | Path, fmt: str | None = None, *,
                    voxel_size_a: float | None = None, class_to_label: dict[str, int] | None = None,
                    relion_version: str = "relion4", tomo_shape_xyz=None) -> Path:
    """Write a particle list in one of :data:`FORMATS` (see :func:`read_particles`).

    STAR: :func:`tomobench.relion.write_star` (``data_optics`` when ``voxel_size_a`` is
    given; ``relion_version="relion5"`` writes centred Å coordinates and needs
    ``tomo_shape_xyz``, the tomogram's (x, y, z) size in voxels).

    Parameters
    ----------
    df : pandas.DataFrame
        N rows with the columns :data:`PICK_COLUMNS`, positions in voxels, angles ZXZ in degrees.
    path : str or Path
        The file to write; its folder is created.
    fmt : str, optional
        One of :data:`FORMATS`; from the extension when None.
    voxel_size_a : float, optional
        Voxel size in Å per voxel: required for copick (Å locations) and RELION 5, written to
        STAR ``data_optics``.
    class_to_label : dict of str to int, optional
        Class name -> STAR ``rlnClassNumber``; classes numbered 1.. in sorted order when None.
    relion_version : {"relion4", "relion5"}
        The STAR coordinate columns to write.
    tomo_shape_xyz : array_like of int, optional
        (3,) the tomogram's x, y, z size in voxels (RELION 5 only).

    Returns
    -------
    Path
        ``path``.
    """
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
        from tomobench.relion import write_star
        write_star(df, path, voxel_size_a=voxel_size_a, class_to_label=class_to_label,
                   relion_version=relion_version, tomo_shape_xyz=tomo_shape_xyz)
    else:
        from tomobench.copick_format import write_picks_file
        write_picks_file(df, path, voxel_size_a)
    return path


def _fmt(value) -> str:  # a number of an itertuples row: pandas-stubs type those as any Scalar, so no annotation
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


# --------------------------------------------------------------------------- checks

def check_classes(df: pd.DataFrame, valid: list[str], path: str | Path, *, allow_unknown: bool = True) -> None:
    """Raise :class:`InputError` at the first pick whose class is not in ``valid``.

    Parameters
    ----------
    df : pandas.DataFrame
        A particle list (:data:`PICK_COLUMNS`); its ``line`` is named in the error.
    valid : list of str
        The class names allowed.
    path : str or Path
        The source of the picks, named in the error.
    allow_unknown : bool
        Also allow the class ``unknown`` (a pick of no stated class).
    """
    allowed = set(valid) | ({"unknown"} if allow_unknown else set())
    bad = ~df["class"].isin(allowed)
    if bad.any():
        first = df[bad].iloc[0]
        raise InputError(f"unknown class {first['class']!r}; valid classes are: "
                         f"{', '.join(sorted(valid))}" + (", unknown" if allow_unknown else ""),
                         path, int(first["line"]) or None)
