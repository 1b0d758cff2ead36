"""Where structures come from: local files, PDB ids (downloaded once, cached), folders.

- Local PDB / mmCIF files, plain or gzipped, are read with gemmi.
- PDB ids are fetched from ``pdb_url`` (default: the RCSB file service, mmCIF.gz) into
  ``cache_dir`` on first use; a cached file of any supported form is used as is.
- A folder is searched recursively; each model or map file is one class named after
  its stem; a map is skipped where a model of the same name exists.
"""

from __future__ import annotations

import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import gemmi

from tomobench.errors import InputError

MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
MAP_SUFFIXES = (".mrc", ".map")
PDB_ID = re.compile(r"^[0-9][a-z0-9]{3}$")
CACHE_NAMES = ("{id}.cif.gz", "{id}.cif", "{id}.pdb.gz", "{id}.pdb", "{id}.ent.gz", "pdb{id}.ent.gz")


@dataclass
class Source:
    """One class of the library, before it is built.

    ``kind`` is ``model`` (a file of atoms), ``map`` or ``builtin``; ``structure`` holds the atoms
    of a built-in class (a model is read from ``path`` when built).
    """

    name: str
    kind: str
    path: Path | None = None
    pdb_id: str = ""
    structure: gemmi.Structure | None = None


def split_suffix(path: Path) -> tuple[str, str]:
    """``(stem, suffix)`` without a trailing ``.gz``: ``1abc.cif.gz`` -> ``("1abc", ".cif")``."""
    name = path.name[:-3] if path.name.lower().endswith(".gz") else path.name
    p = Path(name)
    return p.stem, p.suffix.lower()


def read_structure_file(path: str | Path) -> gemmi.Structure:
    """Read a PDB or mmCIF file (plain or .gz) with gemmi; bad files raise :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError("structure file not found; check the path", path)
    try:
        st = gemmi.read_structure(str(path), merge_chain_parts=True)
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"not a readable PDB/mmCIF file ({exc}); re-download it or convert it with gemmi",
                         path) from None
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise InputError("the file holds no atoms; it is empty or not a coordinate file", path)
    return st


def cached_pdb(pdb_id: str, cache_dir: str | Path) -> Path | None:
    """A cached file for ``pdb_id`` in ``cache_dir``, if one is there."""
    for pattern in CACHE_NAMES:
        candidate = Path(cache_dir) / pattern.format(id=pdb_id)
        if candidate.is_file() and candidate.stat().st_size > 0:
            return candidate
    return None


def fetch_pdb(pdb_id: str, cache_dir: str | Path, *, url_template: str, offline: bool = False,
              timeout_s: float = 60.0) -> Path:
    """Path of the PDB entry ``pdb_id`` in ``cache_dir``, downloaded from ``url_template`` if absent."""
    pdb_id = pdb_id.strip().lower()
    if not PDB_ID.match(pdb_id):
        raise InputError(f"{pdb_id!r} is not a PDB id (4 characters, a digit first, e.g. 1bxn)")
    cache_dir = Path(cache_dir)
    found = cached_pdb(pdb_id, cache_dir)
    if found is not None:
        return found
    url = url_template.format(id=pdb_id)
    name = Path(urllib.parse.urlparse(url).path).name or f"{pdb_id}.cif.gz"
    target = cache_dir / name
    place = (f"place {pdb_id}.cif.gz (or {pdb_id}.cif / {pdb_id}.pdb) from https://www.rcsb.org/structure/{pdb_id} "
             f"in {cache_dir}/")
    if offline:
        raise InputError(f"PDB entry {pdb_id} is not cached and downloads are off (offline); {place}", cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"could not download PDB entry {pdb_id} from {url} ({exc}); to work offline {place}",
                         cache_dir) from None
    if tmp.stat().st_size == 0:
        tmp.unlink()
        raise InputError(f"the download of {pdb_id} from {url} was empty; {place}", cache_dir)
    tmp.replace(target)
    return target


def folder_sources(folder: str | Path) -> list[Source]:
    """One :class:`Source` per model or map file under ``folder`` (recursively), in name order."""
    folder = Path(folder)
    models: dict[str, Path] = {}
    maps: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        stem, suffix = split_suffix(path)
        if suffix in MODEL_SUFFIXES:
            bucket = models
        elif suffix in MAP_SUFFIXES:
            bucket = maps
        else:
            continue
        if stem in bucket:
            raise InputError(f"two files define the class {stem!r}: {bucket[stem]} and {path}; rename one", folder)
        bucket[stem] = path
    sources = [Source(stem, "model", path, _pdb_id_of(stem)) for stem, path in models.items()]
    sources += [Source(stem, "map", path, _pdb_id_of(stem)) for stem, path in maps.items() if stem not in models]
    if not sources:
        raise InputError(f"no structure files found (looked for {MODEL_SUFFIXES + MAP_SUFFIXES}, "
                         "optionally .gz, in the folder and its subfolders)", folder)
    return sorted(sources, key=lambda s: s.name)


def _pdb_id_of(stem: str) -> str:
    return stem.lower() if PDB_ID.match(stem.lower()) else ""


def resolve_sources(source: str, *, cache_dir: str | Path, url_template: str, offline: bool) -> list[Source]:
    """Turn ``params.source`` into sources: ``builtin`` is handled by the caller; a folder, one file, or PDB ids."""
    if Path(source).is_dir():
        return folder_sources(source)
    if Path(source).is_file():                      # a single model or map file
        stem, suffix = split_suffix(Path(source))
        if suffix in MODEL_SUFFIXES + MAP_SUFFIXES:
            kind = "model" if suffix in MODEL_SUFFIXES else "map"
            return [Source(stem, kind, Path(source), _pdb_id_of(stem))]
    ids = [s.strip().lower() for s in source.split(",") if s.strip()]
    bad = [s for s in ids if not PDB_ID.match(s)]
    if not ids or bad:
        raise InputError(f"structure source {source!r} is not 'builtin', an existing folder or comma-separated "
                         f"PDB ids (bad: {bad or source!r})")
    out = []
    for pdb_id in dict.fromkeys(ids):
        path = fetch_pdb(pdb_id, cache_dir, url_template=url_template, offline=offline)
        out.append(Source(pdb_id, "model", path, pdb_id))
    return out
