"""RELION 4 and 5 tomography particle STAR files.

A particle file holds a ``data_optics`` block (one optics group: the tilt-series
pixel size ``rlnTomoTiltSeriesPixelSize`` and the subtomogram pixel size) and a
``data_particles`` block with one row per particle: ``rlnTomoName``, the
coordinates, ``rlnAngleRot/Tilt/Psi`` (optionally composed with
``rlnTomoSubtomogramRot/Tilt/Psi``), ``rlnOriginX/Y/ZAngst`` and
``rlnClassNumber``. The conventions (docs/conventions.md, "Orientations and RELION"):

* RELION's matrix ``A = A_subtomogram @ A_particle`` (``Euler_angles2matrix``) is
  the reference-to-particle rotation, tomobench's ``R`` (:mod:`tomobench.euler`);
* the particle centre is ``coordinate - A_subtomogram @ origin`` (origins in Å);
* RELION 4: ``rlnCoordinateX/Y/Z`` in tilt-series pixels (unbinned), 0-based;
* RELION 5: ``rlnCenteredCoordinateX/Y/ZAngst`` in Å from the tomogram centre,
  which lies at ``size / 2`` voxels on each axis.

tomobench writes tomogram voxels as tilt-series pixels (binning 1): the
reconstruction's voxel size is the tilt-series pixel size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.errors import InputError
from tomobench.euler import euler_to_matrix, matrix_to_euler, matrix_to_relion, relion_matrix

RELION_VERSIONS = ("relion4", "relion5")
PIXEL_COLUMNS = ["rlnCoordinateX", "rlnCoordinateY", "rlnCoordinateZ"]
CENTRED_COLUMNS = ["rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst", "rlnCenteredCoordinateZAngst"]
ORIGIN_COLUMNS = ["rlnOriginXAngst", "rlnOriginYAngst", "rlnOriginZAngst"]
ANGLE_COLUMNS = ["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi"]
SUBTOMO_COLUMNS = ["rlnTomoSubtomogramRot", "rlnTomoSubtomogramTilt", "rlnTomoSubtomogramPsi"]
DEFAULT_TOMO_NAME = "tomo"


def tomogram_centre_voxels(shape_xyz) -> np.ndarray:
    """RELION 5's tomogram centre in voxels: ``size / 2`` on each axis (x, y, z).

    Parameters
    ----------
    shape_xyz : array_like of int
        (3,) the tomogram's x, y, z size in voxels (the reverse of the ``[z, y, x]`` array shape).

    Returns
    -------
    numpy.ndarray
        (3,) float, the centre x, y, z in voxels.
    """
    return np.asarray(shape_xyz, dtype=float).reshape(3) / 2.0


# --------------------------------------------------------------------------- reading

def _tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    import starfile

    try:
        blocks = starfile.read(path, always_dict=True)
    except Exception as exc:  # starfile raises assorted parser errors
        raise InputError(f"not a readable STAR file ({exc})", path) from None
    frames = {name: b for name, b in blocks.items() if isinstance(b, pd.DataFrame)}
    particles = [b for b in frames.values() if set(PIXEL_COLUMNS[:1] + CENTRED_COLUMNS[:1]) & set(b.columns)]
    if not particles:
        raise InputError("no data block with rlnCoordinateX/Y/Z or rlnCenteredCoordinateX/Y/ZAngst; a RELION "
                         "particle STAR file is expected", path)
    optics = frames.get("optics")
    return particles[-1], optics if optics is not None and len(optics) else None


def _numeric(df: pd.DataFrame, columns: list[str], path: Path) -> np.ndarray:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"the particle block lacks {missing}", path)
    values = df[columns].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputError(f"a value of {columns} is missing, not a number or not finite", path,
                         f"particle {int(np.argmax(bad)) + 1}")
    return values


def _optics_value(df: pd.DataFrame, optics: pd.DataFrame | None, column: str, path: Path) -> np.ndarray | None:
    """Per-particle value of an optics column (through rlnOpticsGroup), or the particle column, or None."""
    if column in df.columns:
        return _numeric(df, [column], path)[:, 0]
    if optics is None or column not in optics.columns:
        return None
    values = pd.to_numeric(optics[column], errors="coerce")
    if len(optics) == 1:
        return np.full(len(df), float(values.iloc[0]))
    if "rlnOpticsGroup" not in df.columns or "rlnOpticsGroup" not in optics.columns:
        raise InputError("several optics groups but the particles have no rlnOpticsGroup", path)
    mapped = pd.to_numeric(df["rlnOpticsGroup"], errors="coerce").map(
        dict(zip(pd.to_numeric(optics["rlnOpticsGroup"], errors="coerce"), values)))
    if mapped.isna().any():
        raise InputError(f"a particle's rlnOpticsGroup has no {column} in data_optics", path,
                         f"particle {int(np.argmax(mapped.isna().to_numpy())) + 1}")
    return mapped.to_numpy(float)


def _rotations(df: pd.DataFrame, path: Path) -> tuple[np.ndarray | None, np.ndarray]:
    """(particle rotations ``A_sub @ A_particle`` or None, ``A_sub``), shapes (N, 3, 3)."""
    n = len(df)
    sub = relion_matrix(*_numeric(df, SUBTOMO_COLUMNS, path).T).reshape(n, 3, 3) \
        if set(SUBTOMO_COLUMNS) <= set(df.columns) else np.tile(np.eye(3), (n, 1, 1))
    if not set(ANGLE_COLUMNS) <= set(df.columns):
        return (sub if set(SUBTOMO_COLUMNS) <= set(df.columns) else None), sub
    particle = relion_matrix(*_numeric(df, ANGLE_COLUMNS, path).T).reshape(n, 3, 3)
    return sub @ particle, sub


def star_positions(df: pd.DataFrame, optics: pd.DataFrame | None, path: Path, *, voxel_size_a: float | None,
                   tomo_shape_xyz=None) -> np.ndarray:
    """Particle centres in tomogram voxels, shifts applied (see the module docstring).

    Parameters
    ----------
    df : pandas.DataFrame
        The STAR particle block (N rows, RELION column names).
    optics : pandas.DataFrame or None
        The ``data_optics`` block, if any (pixel sizes per optics group).
    path : Path
        The STAR file, named in errors.
    voxel_size_a : float or None
        The tomogram's voxel size in Å per voxel.
    tomo_shape_xyz : array_like of int, optional
        (3,) the tomogram's x, y, z size in voxels; needed for RELION 5 centred coordinates.

    Returns
    -------
    numpy.ndarray
        (N, 3) float centres x, y, z in voxels of the tomogram, 0-based.
    """
    n = len(df)
    _, sub = _rotations(df, path)
    origins = _numeric(df, ORIGIN_COLUMNS, path) if set(ORIGIN_COLUMNS) <= set(df.columns) else np.zeros((n, 3))
    shifts_a = np.einsum("nij,nj->ni", sub, origins)
    tilt_series_a = _optics_value(df, optics, "rlnTomoTiltSeriesPixelSize", path)
    centred = set(CENTRED_COLUMNS) <= set(df.columns)
    if centred and (tomo_shape_xyz is not None or not set(PIXEL_COLUMNS) <= set(df.columns)):
        if not voxel_size_a or tomo_shape_xyz is None:
            raise InputError("RELION 5 centred coordinates (rlnCenteredCoordinate*Angst) need the tomogram's size "
                             "and voxel size; they are read from the ground truth (or pass --voxel-size and the "
                             "tomogram shape)", path)
        position_a = _numeric(df, CENTRED_COLUMNS, path) - shifts_a
        return position_a / voxel_size_a + tomogram_centre_voxels(tomo_shape_xyz)
    pixels = _numeric(df, PIXEL_COLUMNS, path)
    if tilt_series_a is not None and voxel_size_a:
        return (pixels * tilt_series_a[:, None] - shifts_a) / voxel_size_a
    # No tilt-series pixel size, or no tomogram voxel size to compare it with: the coordinates are
    # taken as voxels of the tomogram, whose size in Å converts the shifts.
    if not np.any(shifts_a):
        return pixels
    scale_a = voxel_size_a or tilt_series_a
    if scale_a is None:
        scale_a = _optics_value(df, optics, "rlnImagePixelSize", path)
    if scale_a is None:
        raise InputError("rlnOriginX/Y/ZAngst are in Å but the file states no pixel size (data_optics "
                         "rlnTomoTiltSeriesPixelSize) and none was given; pass --voxel-size", path)
    scale_a = np.broadcast_to(np.asarray(scale_a, dtype=float).reshape(-1, 1), (len(df), 1))
    return pixels - shifts_a / scale_a


def read_star(path: str | Path, *, label_to_class: dict[int, str] | None = None, voxel_size_a: float | None = None,
              tomo_shape_xyz=None) -> pd.DataFrame:
    """Read a RELION 4 or 5 particle STAR file.

    Parameters
    ----------
    path : str or Path
        The STAR file.
    label_to_class : dict of int to str, optional
        ``rlnClassNumber`` -> class name; numbers without a name stay as their digits.
    voxel_size_a : float, optional
        The tomogram's voxel size in Å per voxel (Å coordinates and shifts are divided by it).
    tomo_shape_xyz : array_like of int, optional
        (3,) the tomogram's x, y, z size in voxels; needed for RELION 5 centred coordinates only.

    Returns
    -------
    pandas.DataFrame
        N rows ``class x y z phi theta psi score tomo``: centres in voxels of the tomogram at
        ``voxel_size_a`` Å, angles ZXZ in degrees (NaN without angles), score from
        ``rlnAutopickFigureOfMerit``.
    """
    path = Path(path)
    df, optics = _tables(path)
    xyz = star_positions(df, optics, path, voxel_size_a=voxel_size_a, tomo_shape_xyz=tomo_shape_xyz)
    rotations, _ = _rotations(df, path)
    angles = matrix_to_euler(rotations).reshape(-1, 3) if rotations is not None else np.full((len(df), 3), np.nan)
    if "rlnClassNumber" in df.columns:
        numbers = pd.to_numeric(df["rlnClassNumber"], errors="coerce").fillna(-1).astype(int)
        mapping = label_to_class or {}
        classes = [mapping.get(int(n), str(int(n))) for n in numbers]
    else:
        classes = ["unknown"] * len(df)
    tomo_col = next((c for c in ("rlnTomoName", "rlnMicrographName") if c in df.columns), None)
    score = pd.to_numeric(df["rlnAutopickFigureOfMerit"], errors="coerce").to_numpy() \
        if "rlnAutopickFigureOfMerit" in df.columns else np.full(len(df), np.nan)
    return pd.DataFrame({"class": classes, "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
                         "phi": angles[:, 0], "theta": angles[:, 1], "psi": angles[:, 2], "score": score,
                         "tomo": df[tomo_col].astype(str).tolist() if tomo_col else [""] * len(df)})


# --------------------------------------------------------------------------- writing

def optics_table(voxel_size_a: float, extra: dict[str, float] | None = None) -> pd.DataFrame:
    """The one-group ``data_optics`` block: tomograms at binning 1, so subtomogram pixel = tilt-series pixel.

    Parameters
    ----------
    voxel_size_a : float
        The pixel size in Å of the tilt series and of the tomogram.
    extra : dict of str to float, optional
        More optics columns (e.g. ``rlnVoltage`` in kV), added or overriding.

    Returns
    -------
    pandas.DataFrame
        One row.
    """
    row = {"rlnOpticsGroup": 1, "rlnOpticsGroupName": "opticsGroup1",
           "rlnTomoTiltSeriesPixelSize": float(voxel_size_a), "rlnImagePixelSize": float(voxel_size_a),
           "rlnTomoSubtomogramBinning": 1.0, "rlnImageDimensionality": 3}
    row.update(extra or {})
    return pd.DataFrame([row])


def star_tables(df: pd.DataFrame, *, voxel_size_a: float | None, class_to_label: dict[str, int] | None = None,
                relion_version: str = "relion4", tomo_shape_xyz=None, tomo_name: str = DEFAULT_TOMO_NAME,
                optics: dict[str, float] | None = None) -> dict[str, pd.DataFrame]:
    """The STAR blocks (``optics``, ``particles``) of a particle list; see :func:`write_star`.

    Parameters
    ----------
    df : pandas.DataFrame
        N rows with the columns :data:`tomobench.particles.PICK_COLUMNS` (voxels, ZXZ degrees).
    voxel_size_a : float or None
        The tomogram's voxel size in Å per voxel; without it no ``optics`` block is written.
    class_to_label : dict of str to int, optional
        Class name -> ``rlnClassNumber`` (0 for a class not in it); 1.. in sorted order when None.
    relion_version : {"relion4", "relion5"}
        ``rlnCoordinateX/Y/Z`` in voxels, or ``rlnCenteredCoordinateX/Y/ZAngst`` in Å from the centre.
    tomo_shape_xyz : array_like of int, optional
        (3,) the tomogram's x, y, z size in voxels (RELION 5 only).
    tomo_name : str
        ``rlnTomoName`` of picks with no tomogram.
    optics : dict of str to float, optional
        More ``data_optics`` columns (:func:`optics_table`).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``particles`` (N rows) and, with a voxel size, ``optics`` (one row).
    """
    if relion_version not in RELION_VERSIONS:
        raise ValueError(f"relion_version must be one of {RELION_VERSIONS}, got {relion_version!r}")
    xyz = df[["x", "y", "z"]].to_numpy(float)
    out = pd.DataFrame({"rlnTomoName": [t or tomo_name for t in df["tomo"]]})
    if relion_version == "relion5":
        if not voxel_size_a or tomo_shape_xyz is None:
            raise ValueError("RELION 5 centred coordinates need voxel_size_a and tomo_shape_xyz")
        centred = (xyz - tomogram_centre_voxels(tomo_shape_xyz)) * voxel_size_a
        for col, values in zip(CENTRED_COLUMNS, centred.T):
            out[col] = values
    else:
        for col, values in zip(PIXEL_COLUMNS, xyz.T):
            out[col] = values
    for col in ORIGIN_COLUMNS:
        out[col] = 0.0
    angles = df[["phi", "theta", "psi"]].to_numpy(float)
    if len(df) and np.isfinite(angles).all():
        relion = matrix_to_relion(euler_to_matrix(*angles.T)).reshape(-1, 3)
        for col, values in zip(ANGLE_COLUMNS, relion.T):
            out[col] = values
    if class_to_label is None:
        class_to_label = {n: i + 1 for i, n in enumerate(sorted(set(df["class"])))}
    out["rlnClassNumber"] = [class_to_label.get(c, 0) for c in df["class"]]
    if df["score"].notna().any():
        out["rlnAutopickFigureOfMerit"] = df["score"].to_numpy()
    if not voxel_size_a:
        return {"particles": out}         # RELION refuses an optics block without the pixel size
    out["rlnOpticsGroup"] = 1
    return {"optics": optics_table(voxel_size_a, optics), "particles": out}


def write_star(df: pd.DataFrame, path: str | Path, **kwargs) -> Path:
    """Write a particle list as a RELION tomography particle STAR file.

    ``relion_version="relion4"`` writes ``rlnCoordinateX/Y/Z`` (voxels = tilt-series
    pixels), ``"relion5"`` writes ``rlnCenteredCoordinateX/Y/ZAngst`` (needs
    ``voxel_size_a`` and ``tomo_shape_xyz``). ``rlnTomoName`` is always written
    (``tomo_name`` where a pick has no tomogram); ``data_optics`` whenever the voxel
    size is known. Keyword arguments as :func:`star_tables`.
    """
    import starfile

    path = Path(path)
    starfile.write(star_tables(df, **kwargs), path, overwrite=True)
    return path
