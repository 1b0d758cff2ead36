"""The class table of a dataset: ``classes.csv``.

One row per class, with the columns of docs/conventions.md ("Class table") plus ``kind`` (``protein``,
``membrane``, ``filament``, ``fiducial``, ``vesicle``, ...) and ``scored``
(whether picks of it count in the scores). Size groups follow SHREC 2020
Table 5: small < 200 kDa, medium 200-600 kDa, large > 600 kDa.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.errors import InputError

CLASS_COLUMNS = [
    "class_name", "label", "pdb_id", "mass_kda", "volume_nm3", "area_nm2", "sphericity",
    "eff_radius_nm", "radius_nm", "size_group", "kind", "scored",
]
REQUIRED_COLUMNS = ["class_name", "label"]
SIZE_GROUPS = ("small", "medium", "large")
NON_PARTICLE_KINDS = ("membrane", "filament", "fiducial", "vesicle")
UNKNOWN_CLASS = "unknown"
BACKGROUND = "background"


def size_group(mass_kda: float) -> str:
    """SHREC 2020 size group of a complex: small < 200 kDa <= medium <= 600 kDa < large.

    Parameters
    ----------
    mass_kda : float
        The complex's mass in kDa.

    Returns
    -------
    str
        ``small``, ``medium`` or ``large``; ``""`` when the mass is not finite.
    """
    if not np.isfinite(mass_kda):
        return ""
    if mass_kda < 200:
        return "small"
    if mass_kda <= 600:
        return "medium"
    return "large"


@dataclass(frozen=True)
class ClassTable:
    """A validated class table; ``table`` has the :data:`CLASS_COLUMNS`, one row per class."""

    table: pd.DataFrame

    @property
    def names(self) -> list[str]:
        """Every class name, in table order."""
        return list(self.table["class_name"])

    @property
    def scored_names(self) -> list[str]:
        """The names of the scored classes, in table order."""
        return list(self.table.loc[self.table["scored"], "class_name"])

    def row(self, name: str) -> pd.Series:
        """The table row of class ``name`` (indexed by column name)."""
        # class names are unique (checked in _normalise), so .loc of one name is one row, a Series
        return self.table.set_index("class_name").loc[name]  # type: ignore[return-value]

    def label_of(self, name: str) -> int:
        """The integer label of class ``name`` (the class mask value and the STAR ``rlnClassNumber``)."""
        return int(self.row(name)["label"])

    def name_of_label(self) -> dict[int, str]:
        """Integer label -> class name, for every class."""
        return dict(zip(self.table["label"].astype(int), self.table["class_name"]))

    def is_scored(self, name: str) -> bool:
        """Whether class ``name`` counts in the scores."""
        return name in set(self.scored_names)

    def groups(self) -> dict[str, list[str]]:
        """Size group -> scored class names in it (groups with no class are kept, empty)."""
        out: dict[str, list[str]] = {g: [] for g in SIZE_GROUPS}
        for name, group, scored in zip(self.table["class_name"], self.table["size_group"], self.table["scored"]):
            if scored and group in out:
                out[group].append(name)
        return out

    @classmethod
    def from_records(cls, records: list[dict]) -> "ClassTable":
        """A validated table from one dict per class (keys: :data:`CLASS_COLUMNS`)."""
        return cls(_normalise(pd.DataFrame.from_records(records), None))


def _normalise(df: pd.DataFrame, path: Path | None) -> pd.DataFrame:
    df = df.copy()
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"classes.csv lacks the column(s) {missing}; it needs at least {REQUIRED_COLUMNS}", path)
    df["class_name"] = df["class_name"].astype(str).str.strip()
    dup = df["class_name"][df["class_name"].duplicated()]
    if len(dup):
        raise InputError(f"class name {dup.iloc[0]!r} appears twice", path)
    if UNKNOWN_CLASS in set(df["class_name"]) or BACKGROUND in set(df["class_name"]):
        raise InputError(f"'{UNKNOWN_CLASS}' and '{BACKGROUND}' are reserved names", path)
    labels = pd.to_numeric(df["label"], errors="coerce")
    if labels.isna().any() or (labels <= 0).any() or labels.duplicated().any():
        raise InputError("labels must be distinct positive integers (0 is background)", path)
    df["label"] = labels.astype(int)
    for col in ("mass_kda", "volume_nm3", "area_nm2", "sphericity", "eff_radius_nm", "radius_nm"):
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df.columns else np.nan
    if "pdb_id" not in df.columns:
        df["pdb_id"] = ""
    df["pdb_id"] = df["pdb_id"].fillna("").astype(str)
    if "kind" not in df.columns:
        df["kind"] = "protein"
    df["kind"] = df["kind"].fillna("protein").astype(str)
    if "size_group" not in df.columns:
        df["size_group"] = ""
    df["size_group"] = df["size_group"].fillna("").astype(str)
    fill = (df["size_group"] == "") & (df["kind"] == "protein")
    df.loc[fill, "size_group"] = [size_group(m) for m in df.loc[fill, "mass_kda"]]
    if "scored" not in df.columns:
        df["scored"] = ~df["kind"].isin(NON_PARTICLE_KINDS)
    else:
        df["scored"] = df["scored"].map(_as_bool)
    return df[CLASS_COLUMNS].reset_index(drop=True)


def _as_bool(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return str(value).strip().lower() in ("1", "true", "yes", "y")


def read_classes(path: str | Path) -> ClassTable:
    """Read and validate a ``classes.csv``."""
    path = Path(path)
    if not path.is_file():
        raise InputError("class table not found; every dataset has a classes.csv beside its tomogram folders", path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"not a readable CSV ({exc})", path) from None
    return ClassTable(_normalise(df.replace({"": np.nan}), path))


def write_classes(table: ClassTable, path: str | Path) -> Path:
    """Write a class table as ``classes.csv`` (columns in :data:`CLASS_COLUMNS` order)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.table.to_csv(path, index=False, float_format="%.6g")
    return path
