"""A dataset version: its parameters, its train/test split and the public/private packaging.

Layout (docs/conventions.md, "Data layout of the pipeline")::

    data/tomograms/<tomo>/      everything simulated for one tomogram
    data/public/                what participants pull
        classes.csv, README.md (the dataset card), preview.png (slices with picks), SHA256SUMS
        structures/             the structure library (templates, classes.csv, balls/)
        train/<tomo>/           everything (reconstruction + full ground truth)
        test/<tomo>/            reconstruction.mrc, projections.mrc (+ .tlt, .rawtlt), tilt_angles.txt,
                                acquisition.json
    data/private/test/<tomo>/   the test ground truth (with its own classes.csv)

The test split is the last ``n_test`` tomograms (``tomo_<index>``, index 0-based,
three digits), as SHREC 2020 kept its last tomogram for testing.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from pydantic import Field, model_validator

from tomobench import __version__
from tomobench.classes import read_classes
from tomobench.errors import InputError
from tomobench.groundtruth import PARTICLE_LOCATIONS, PROJECTIONS, RECONSTRUCTION, TILT_ANGLES
from tomobench.params import Params
from tomobench.particles import read_particles
from tomobench.view import PREVIEW_PNG
from tomobench.volumes import read_volume

REQUIRED_TEST_FILES = (RECONSTRUCTION, PROJECTIONS, TILT_ANGLES, "acquisition.json")
# IMOD's angle files beside the tilt stack: public when the generator wrote them
PUBLIC_TEST_FILES = REQUIRED_TEST_FILES + ("projections.tlt", "projections.rawtlt")
CARD = "README.md"
CHECKSUMS = "SHA256SUMS"
SKIP_IN_STRUCTURES = ("cache",)
TOMO_RE = re.compile(r"^tomo_(\d{3,})$")


def tomo_name(index: int) -> str:
    """``tomo_000``, ``tomo_001``, ... (index 0-based)."""
    return f"tomo_{index:03d}"


def tomo_index(name: str) -> int:
    """The 0-based index of tomogram ``name`` (``tomo_007`` -> 7); :class:`InputError` for other names."""
    match = TOMO_RE.match(name)
    if not match:
        raise InputError(f"{name!r} is not a tomogram name; they look like tomo_000, tomo_001, ...")
    return int(match.group(1))


class SlurmParams(Params):
    """``dataset.slurm``: the SLURM jobs of ``tomobench simulate --slurm`` (through dask-jobqueue).

    Each job is one Dask worker with one core and one thread (one tomogram at a
    time); ``memory`` and ``walltime`` are per job, in SLURM's forms.
    """

    jobs: int = Field(1, ge=1, le=100_000, description="number of worker jobs (one tomogram at a time each)")
    queue: str | None = Field(None, description="SLURM partition (#SBATCH -p)")
    account: str | None = Field(None, description="SLURM account (#SBATCH -A)")
    memory: str = Field("8GB", pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$", description="memory per job, e.g. 8GB")
    walltime: str = Field("02:00:00", pattern=r"^(\d+-)?\d{1,3}:\d{2}:\d{2}$", description="HH:MM:SS per job")
    job_extra_directives: list[str] = Field(default_factory=list,
                                            description="more #SBATCH options, e.g. ['--gres=gpu:1']")
    python: str | None = Field(None, description="python of the nodes (default: the one running tomobench)")
    local_directory: str | None = Field(None, description="node-local scratch folder of the workers")


class DatasetParams(Params):
    """``params.yaml`` section ``dataset``.

    ``tomograms`` repeats the names ``tomo_000`` .. ``tomo_<n_tomos-1>`` because
    ``dvc.yaml`` runs one ``simulate`` stage per entry (``foreach`` needs a list);
    it is checked against ``n_tomos``.
    """

    name: str = "tomobench-default"
    version: str = "dev"
    description: str = "Simulated cryo-ET tomograms for particle picking (tomobench default preset)"
    seed: int = Field(2020, ge=0)
    n_tomos: int = Field(4, ge=1, le=100_000)
    n_test: int = Field(1, ge=0)
    tomograms: list[str] | None = None
    workers: int = Field(0, ge=0, le=4096, description="Dask local workers for `tomobench simulate` (0 = serial)")
    scheduler: str | None = Field(None, description="address of a running Dask scheduler (tcp://host:8786)")
    slurm: SlurmParams | None = Field(None, description="SLURM jobs for `tomobench simulate --slurm`")

    @model_validator(mode="after")
    def _check(self) -> "DatasetParams":
        if self.n_test >= self.n_tomos:
            raise ValueError(f"n_test = {self.n_test} leaves no training tomogram of n_tomos = {self.n_tomos}")
        if self.tomograms is not None and self.tomograms != self.names():
            raise ValueError(f"tomograms must list {self.names()[0]} .. {self.names()[-1]} (n_tomos = "
                             f"{self.n_tomos}) for dvc.yaml's foreach; got {self.tomograms}")
        if not re.fullmatch(r"[A-Za-z0-9._-]+", self.version):
            raise ValueError(f"version {self.version!r} may hold only letters, digits, '.', '_' and '-'")
        return self

    def names(self) -> list[str]:
        """The names of the ``n_tomos`` tomograms, ``tomo_000`` onwards."""
        return [tomo_name(i) for i in range(self.n_tomos)]

    def split(self) -> tuple[list[str], list[str]]:
        """(train names, test names): the test split is the last ``n_test`` tomograms."""
        names = self.names()
        return names[: self.n_tomos - self.n_test], names[self.n_tomos - self.n_test:]


@dataclass
class PackageSummary:
    """What :func:`package` wrote: the split, the particle counts per class and the checksums."""

    train: list[str]
    test: list[str]
    counts: pd.DataFrame          # class_name, size_group, train, test
    checksums: dict[str, str]     # public relative path -> sha256


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """The hex SHA-256 of the file ``path``, read ``chunk`` bytes at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _copy_tree(src: Path, dst: Path, *, only: tuple[str, ...] | None = None, skip: tuple[str, ...] = ()) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        if item.name in skip or (only is not None and item.name not in only):
            continue
        if item.is_dir():
            _copy_tree(item, dst / item.name)
        else:
            shutil.copyfile(item, dst / item.name)


def _class_counts(folders: list[Path]) -> Counter:
    """Particles per class name over the ``particle_locations.txt`` of ``folders``."""
    counts: Counter = Counter()
    for folder in folders:
        counts.update(ln.split()[0] for ln in (folder / "particle_locations.txt").read_text().splitlines()
                      if ln.strip())
    return counts


def package(tomograms: str | Path, structures: str | Path, public: str | Path, private: str | Path,
            params: DatasetParams, *, parameters: dict[str, Any] | None = None) -> PackageSummary:
    """Split ``tomograms/<tomo>/`` into the public and private folders and write the dataset card.

    ``public`` and ``private`` are replaced entirely. ``parameters`` (the generator's
    sections of params.yaml) go into the card.
    """
    tomograms, structures, public, private = map(Path, (tomograms, structures, public, private))
    train, test = params.split()
    if not test:
        raise InputError("dataset.n_test is 0: a packaged dataset needs at least one test tomogram")
    missing = [n for n in train + test if not (tomograms / n / "particle_locations.txt").is_file()]
    if missing:
        raise InputError(f"tomogram(s) {missing} are missing or incomplete; run `tomobench simulate` "
                         f"(or `dvc repro simulate`) first", tomograms)
    not_public = [f for f in REQUIRED_TEST_FILES if not (tomograms / test[0] / f).is_file()]
    if not_public:
        raise InputError(f"{test[0]} lacks {not_public}; imaging outputs are missing", tomograms / test[0])
    if not (structures / "classes.csv").is_file():
        raise InputError("no structure library here (classes.csv missing); run `tomobench structures`", structures)
    classes_csv = tomograms / train[0] / "classes.csv"
    classes = read_classes(classes_csv)
    for name in train + test:
        other = tomograms / name / "classes.csv"
        if other.is_file() and other.read_bytes() != classes_csv.read_bytes():
            raise InputError(f"classes.csv of {name} differs from that of {train[0]}; the tomograms do not "
                             f"belong to one dataset", other)

    for folder in (public, private):
        if folder.exists():
            shutil.rmtree(folder)
    public.mkdir(parents=True)
    shutil.copyfile(classes_csv, public / "classes.csv")
    _copy_tree(structures, public / "structures", skip=SKIP_IN_STRUCTURES)
    for name in train:
        _copy_tree(tomograms / name, public / "train" / name)
    for name in test:
        _copy_tree(tomograms / name, public / "test" / name, only=PUBLIC_TEST_FILES)
        _copy_tree(tomograms / name, private / "test" / name, skip=PUBLIC_TEST_FILES)
        shutil.copyfile(classes_csv, private / "test" / name / "classes.csv")
    shutil.copyfile(classes_csv, private / "classes.csv")

    counts = pd.DataFrame({"class_name": classes.names,
                           "size_group": list(classes.table["size_group"])}).set_index("class_name")
    for split, names in (("train", train), ("test", test)):
        total = _class_counts([tomograms / n for n in names])
        counts[split] = [int(total.get(c, 0)) for c in counts.index]
    counts = counts.reset_index()

    write_preview(public / "train" / train[0], classes, public / PREVIEW_PNG)
    checksums = {p.relative_to(public).as_posix(): sha256(p)
                 for p in sorted(public.rglob("*")) if p.is_file()}
    (public / CHECKSUMS).write_text("".join(f"{h}  {rel}\n" for rel, h in checksums.items()))
    summary = PackageSummary(train, test, counts, checksums)
    (public / CARD).write_text(dataset_card(params, summary, parameters or {}), encoding="utf-8")
    return summary


def write_preview(folder: Path, classes, path: Path) -> Path | None:
    """A PNG of slices of a training tomogram with its true particles drawn (the card shows it).

    None when the folder has no reconstruction.
    """
    from tomobench.view import class_radii_vox, write_slices_png

    if not (folder / RECONSTRUCTION).is_file():
        return None
    volume, voxel_size_a = read_volume(folder / RECONSTRUCTION, mmap=True)
    truth = read_particles(folder / PARTICLE_LOCATIONS, "shrec")
    return write_slices_png(volume, truth, path, title=f"{folder.name}: reconstruction with its true particles",
                            class_order=classes.names, radius_vox=class_radii_vox(classes, voxel_size_a))


def dataset_card(params: DatasetParams, summary: PackageSummary, parameters: dict[str, Any]) -> str:
    """The dataset card (Markdown). No dates or host names: same inputs, same bytes.

    One template, long on purpose: the card reads top to bottom here as it does on disk.
    """
    counts = summary.counts
    # itertuples fields are typed as any pandas Scalar (bytes included); these are str and int
    train_rows = "\n".join(f"| {r.class_name} | {r.size_group or '-'} | {r.train} |"  # type: ignore[str-bytes-safe]
                           for r in counts.itertuples())
    n_test_particles = int(counts["test"].sum())
    files = "\n".join(f"| `{rel}` | `{h}` |" for rel, h in summary.checksums.items()
                      if rel.count("/") <= 2 or rel.endswith("reconstruction.mrc"))
    params_yaml = yaml.safe_dump(parameters, sort_keys=False, default_flow_style=None).rstrip()
    first = summary.train[0]
    look = "" if PREVIEW_PNG not in summary.checksums else f"""## A look at {first}

![Slices of {first} with its particles]({PREVIEW_PNG})

(`tomobench view train/{first}/reconstruction.mrc --picks train/{first}/particle_locations.txt`
opens it in napari; `--png FILE` writes such a picture.)

"""
    return f"""# {params.name} (version {params.version})

{params.description}

Made with tomobench {__version__}: `tomobench simulate` (structures -> scene -> microscope ->
reconstruction, one seed per tomogram from `SeedSequence([{params.seed}, index])`) and
`tomobench dataset package`, run by `dvc repro` (see `dvc.yaml` and `dvc.lock` of this
version's git tag for every command and hash).

## Splits

- **train** ({len(summary.train)}): {', '.join(summary.train)} — `train/<tomo>/` holds the
  reconstruction, the tilt series and the full ground truth (SHREC file names).
- **test** ({len(summary.test)}): {', '.join(summary.test)} — `test/<tomo>/` holds
  {', '.join(PUBLIC_TEST_FILES)} only; the ground truth is hidden
  ({n_test_particles} particles in all) and scored by the organizers.
- `structures/`: the structure library (class templates, `classes.csv`, multi-ball models).
- `classes.csv`: the class table (labels, masses, SHREC size groups, which classes are scored).

{look}## Particles per class (train)

| class | size group | train |
|---|---|---|
{train_rows}

## Get it

```
dvc get <repository url> data/public --rev {params.version} -o {params.name}-{params.version}
```

(or `dvc import` the same path to keep it linked, or `git clone` + `dvc pull data/public`).

## Checksums

Every file's SHA-256 is in `{CHECKSUMS}` (check with `sha256sum -c {CHECKSUMS}` inside this folder).
The main files:

| file | sha256 |
|---|---|
{files}

## Parameters

```yaml
{params_yaml}
```
"""
