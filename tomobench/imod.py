"""IMOD files: tilt stacks with their angle files, and picks as a text model for ``point2model``.

* A tilt series is an MRC *image stack* (MRC2014 space group ISPG 0), views in
  ascending angle order, with ``<stem>.rawtlt`` (the recorded, nominal angles) and
  ``<stem>.tlt`` (the angles the reconstruction used; tomobench's WBP uses the
  nominal ones, so both hold the same numbers) beside it: one angle in degrees per
  line, the view order of the stack. IMOD's ``tilt`` and ``etomo`` take them as is.
* Picks become IMOD's point-file text, one point per line ``object contour x y z``:
  one object per class (numbered from 1 in the order given, see
  :func:`write_point_model`), all its picks in contour 1, ``x y z`` in voxels of
  the tomogram counted from 0 (IMOD's index coordinates). Convert with
  ``point2model -scat -sphere 5 picks.txt picks.mod`` and open
  ``3dmod reconstruction.mrc picks.mod``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.volumes import write_volume

RAW_TILT_SUFFIX = ".rawtlt"
TILT_SUFFIX = ".tlt"


def angle_files(stack_path: str | Path) -> tuple[Path, Path]:
    """(``.tlt``, ``.rawtlt``) paths beside a tilt stack (``projections.mrc`` -> ``projections.tlt``, ...)."""
    stack_path = Path(stack_path)
    return stack_path.with_suffix(TILT_SUFFIX), stack_path.with_suffix(RAW_TILT_SUFFIX)


def write_tilt_stack(path: str | Path, projections: np.ndarray, pixel_size_a: float, tilt_angles_deg,
                     *, used_angles_deg=None) -> Path:
    """Write a tilt series as an MRC image stack plus ``.tlt`` and ``.rawtlt``.

    Parameters
    ----------
    path : str or Path
        The stack's MRC file; the angle files get its stem.
    projections : numpy.ndarray
        (n_views, Y, X) the views, in stack order.
    pixel_size_a : float
        Pixel size in Å, > 0.
    tilt_angles_deg : array_like of float
        (n_views,) the nominal angle of each view in degrees, stack order -> ``.rawtlt``.
    used_angles_deg : array_like of float, optional
        (n_views,) the angles the reconstruction used, degrees -> ``.tlt``; the nominal ones when None.

    Returns
    -------
    Path
        The stack's path.
    """
    projections = np.asarray(projections)
    angles = np.asarray(tilt_angles_deg, dtype=float).reshape(-1)
    used = angles if used_angles_deg is None else np.asarray(used_angles_deg, dtype=float).reshape(-1)
    if projections.ndim != 3 or len(angles) != projections.shape[0] or len(used) != len(angles):
        raise ValueError(f"write_tilt_stack: {projections.shape} views need one angle each; got {len(angles)} "
                         f"nominal and {len(used)} used angles")
    path = write_volume(path, projections, pixel_size_a, image_stack=True)
    tlt, rawtlt = angle_files(path)
    np.savetxt(rawtlt, angles, fmt="%.4f")
    np.savetxt(tlt, used, fmt="%.4f")
    return path


def point_model_table(df: pd.DataFrame, class_order: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Rows ``(object, contour, x, y, z)`` of a particle list and the class of each object.

    Parameters
    ----------
    df : pandas.DataFrame
        Particle list (:data:`tomobench.particles.PICK_COLUMNS`, N rows), ``x y z`` in voxels.
    class_order : list of str, optional
        Fixes the object numbers (e.g. the class table's order); classes of the picks that are not
        in it follow, sorted. Classes without a pick get no object.

    Returns
    -------
    rows : numpy.ndarray
        (N, 5) float ``(object, contour, x, y, z)``, sorted by object (stable); contour is 1,
        ``x y z`` in voxels.
    classes : list of str
        The class of each object: object ``i`` is ``classes[i - 1]``.
    """
    order = list(class_order or [])
    order += sorted(set(df["class"]) - set(order))
    present = [c for c in order if (df["class"] == c).any()]
    number = {c: i + 1 for i, c in enumerate(present)}
    objects = df["class"].map(number).to_numpy(dtype=float)
    rows = np.column_stack([objects, np.ones(len(df)), df[["x", "y", "z"]].to_numpy(float)])
    return rows[np.argsort(objects, kind="stable")], present


def write_point_model(df: pd.DataFrame, path: str | Path, class_order: list[str] | None = None) -> Path:
    """Write picks as a ``point2model`` text file and, beside it, ``<stem>_objects.csv`` (object, class).

    Returns the path of the point file; see the module docstring for the convention.
    """
    path = Path(path)
    rows, classes = point_model_table(df, class_order)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for obj, contour, x, y, z in rows:
            fh.write(f"{int(obj)} {int(contour)} {x:.3f} {y:.3f} {z:.3f}\n")
    pd.DataFrame({"object": range(1, len(classes) + 1), "class": classes}).to_csv(
        path.with_name(f"{path.stem}_objects.csv"), index=False)
    return path
