"""Fidelity against SHREC 2020: oracle detectability and TM per-class F1 on the shrec2020 preset.

    PYTHONPATH=$PWD python benchmarks/bench_fidelity.py [--shared ../shared/structures]
        [--crop 256 256 200] [--angular-step 30] [--bin 2] [--candidates-factor 8]
        [--seed 0] [--work DIR] [--threads 2] [--skip-tm] [--oracle-dilation 1]

1. Builds the twelve SHREC 2020 classes from ``--shared`` (``pdb/`` for ten, the ``maps_10A`` maps
   for 4cr2 and for 4d8q, whose obsolete entry 4v94 replaced) with the ``structures`` section of
   ``params/shrec2020.yaml`` (per-class assembly, one complex of the 4v94 map).
2. Simulates one tomogram with the preset's ``scene`` and ``imaging`` sections on a crop
   (``--crop X Y Z`` voxels, default 256 x 256 x 200 of SHREC's 512 x 512 x 200, the same particle
   density), asking the imaging for its noise-free reconstruction as well. Whatever noise model the
   preset names is what runs.
3. Oracle detectability per class: the matched filter of each particle is its own noise-free
   reconstruction (the noise-free tomogram inside the particle's occupancy mask dilated by
   ``--oracle-dilation`` voxels, default one, less the other particles' voxels; true position,
   true pose, the CTF, wedge and everything else of the imaging), scored as a local normalised
   cross-correlation with the noisy tomogram at the particle's centre. The background is the same
   correlation, with the filter of the class's first particle, over every voxel of the tomogram
   outside all particles; its N-th highest local maximum (N = the class's particles in the crop) is
   the detection bar. Printed: d' = (mean particle score - mean background) / background std, and
   the fraction of particles above the bar. The background is scanned at one pose. The mask matters
   for small particles: one voxel cuts the CTF's fringe off their signal, several voxels let the
   noise-free surroundings into the filter (the bound keeps growing with the dilation), so neither
   dilation is a strict bound.
4. The project's template matching on the same tomogram, through its CLI (``tomobench baseline tm``,
   TM-F and TM-T from one scan, ``--angular-step`` / ``--bin``), scored with ``tomobench score``;
   per-class F1 beside SHREC 2020 Table 4 and size-group F1 beside Table 6. The TM reads a public
   folder whose train split is the test tomogram itself: it takes from it only the particle count
   per class (SHREC's TM also used N = particles / 12) and the contrast sign.
5. Where each rule's picks land (SHREC's hit rule: the occupancy-mask voxel under the pick): on a
   particle of the picked class, of another class (and which one most often), or on none.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.fft
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator.simulate import load_config, simulate_tomogram  # noqa: E402
from generator.structures import build_library  # noqa: E402
from generator.structures.library import save_library  # noqa: E402
from tomobench.dataset import PUBLIC_TEST_FILES  # noqa: E402
from tomobench.groundtruth import CLASSES_CSV, OCCUPANCY_MASK, RECONSTRUCTION  # noqa: E402
from tomobench.volumes import read_volume  # noqa: E402

# SHREC 2020 (Gubins et al. 2020): Table 1 mass (kDa), Table 4 per-class F1 of TM-T and TM-F,
# Table 6 size-group F1 (small < 200 kDa, medium 200-600, large >= 600; Table 5).
SHREC_CLASSES = ("1s3x", "3qm1", "3gl1", "3h84", "2cg9", "3d2f", "1u6g", "3cf3", "1bxn", "1qvr", "4cr2", "4d8q")
SHREC_MASS_KDA = dict(zip(SHREC_CLASSES, (42.75, 62.62, 84.61, 158.08, 188.73, 236.11, 238.82, 541.74, 559.96,
                                          593.36, 1309.28, 1952.74)))
SHREC_TABLE4 = {
    "TM-T": dict(zip(SHREC_CLASSES, (0.2, 0.102, 0.248, 0.727, 0.555, 0.869, 0.835, 0.88, 0.934, 0.97, 0.968,
                                     0.945))),
    "TM-F": dict(zip(SHREC_CLASSES, (0.319, 0.219, 0.207, 0.66, 0.589, 0.808, 0.815, 0.945, 0.939, 0.966, 0.968,
                                     0.945))),
}
SHREC_TABLE6 = {"TM-T": {"small": 0.366, "medium": 0.898, "large": 0.957},
                "TM-F": {"small": 0.399, "medium": 0.895, "large": 0.957}}
MAP_CLASSES = {"4cr2": "4cr2.mrc", "4d8q": "4v94.mrc"}


def class_folder(shared: Path, out: Path) -> Path:
    """A folder of links: the ten PDB files and the two maps, 4v94's named 4d8q (SHREC's class)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in SHREC_CLASSES:
        src = shared / "maps_10A" / MAP_CLASSES[name] if name in MAP_CLASSES else shared / "pdb" / f"{name}.pdb"
        if not src.is_file():
            raise SystemExit(f"{src} is missing: --shared must hold pdb/ and maps_10A/ (see its README.md)")
        link = out / (f"{name}.mrc" if name in MAP_CLASSES else f"{name}.pdb")
        if not link.exists():
            link.symlink_to(src.resolve())
    return out


def local_ncc(volume: np.ndarray, filt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``volume`` with the zero-mean, unit-norm ``filt`` under ``mask``.

    ``(Σ_M f v(x + .)) / sqrt(Σ_M v² - (Σ_M v)² / |M|)`` at every shift x (periodic FFTs; the
    result is indexed by the filter box's centre voxel, as the particle centres are).
    """
    shape = volume.shape
    n = filt.shape
    fv = scipy.fft.rfftn(volume, workers=-1)
    fv2 = scipy.fft.rfftn(volume.astype(np.float64) ** 2, workers=-1)

    def corr(spec, kernel):
        padded = np.zeros(shape)
        padded[: n[0], : n[1], : n[2]] = kernel
        out = scipy.fft.irfftn(spec * np.conj(scipy.fft.rfftn(padded, workers=-1)), s=shape, workers=-1)
        return np.roll(out, tuple(k // 2 for k in n), axis=(0, 1, 2))

    num = corr(fv, filt)
    s1, s2 = corr(fv, mask), corr(fv2, mask)
    var = np.clip(s2 - s1 ** 2 / mask.sum(), 1e-12, None)
    return (num / np.sqrt(var)).astype(np.float32)


def particle_filter(noise_free: np.ndarray, occupancy: np.ndarray, pid: int, centre_zyx: np.ndarray,
                    half: int, dilation_vox: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
    """``(filter, mask)`` boxes of edge ``2 half + 1`` centred on the particle, or None at the border.

    The mask is the particle's occupancy dilated by ``dilation_vox`` voxels: the CTF spreads a
    particle's signal beyond its envelope (a fringe of a few voxels at 3 µm underfocus).
    """
    lo, hi = centre_zyx - half, centre_zyx + half + 1
    if (lo < 0).any() or (hi > np.array(noise_free.shape)).any():
        return None
    box = tuple(slice(a, b) for a, b in zip(lo, hi))
    # the fringe, but not the neighbours' own voxels: their density in the filter would match them
    others = (occupancy[box] > 0) & (occupancy[box] != pid)
    mask = ndimage.binary_dilation(occupancy[box] == pid, iterations=dilation_vox) & ~others
    if mask.sum() < 4:
        return None
    f = np.where(mask, noise_free[box] - noise_free[box][mask].mean(), 0.0)
    return f / np.sqrt((f ** 2).sum()), mask.astype(np.float64)


def box_ncc(volume: np.ndarray, filt: np.ndarray, mask: np.ndarray, centre_zyx: np.ndarray) -> float:
    """The :func:`local_ncc` value at one centre, computed directly on the box."""
    half = filt.shape[0] // 2
    box = tuple(slice(c - half, c + half + 1) for c in centre_zyx)
    v = volume[box].astype(np.float64)
    s1, s2 = (v * mask).sum(), (v * v * mask).sum()
    return float((filt * v).sum() / np.sqrt(max(s2 - s1 ** 2 / mask.sum(), 1e-12)))


def detectability(tomo: Path, classes: pd.DataFrame, dilation_vox: int = 1) -> pd.DataFrame:
    """Per class: particles, d', fraction above the background's N-th peak (module docstring, 3)."""
    noisy, voxel_size_a = read_volume(tomo / RECONSTRUCTION)
    noise_free, _ = read_volume(tomo / "noise_free_reconstruction.mrc")
    occupancy, _ = read_volume(tomo / OCCUPANCY_MASK)
    noisy, noise_free = np.asarray(noisy, np.float64), np.asarray(noise_free, np.float64)
    occupancy = np.asarray(occupancy)
    parts = pd.read_parquet(tomo / "particles.parquet")
    outside = ndimage.binary_erosion(occupancy == 0, iterations=1)
    rows = []
    for row in classes.itertuples():
        mine = parts[parts["class"] == row.class_name]
        half = int(np.ceil(row.radius_nm * 10.0 / voxel_size_a)) + 1 + dilation_vox
        scores, first = [], None
        for p in mine.itertuples():
            centre = np.array([p.z, p.y, p.x], int)
            fm = particle_filter(noise_free, occupancy, p.id, centre, half, dilation_vox)
            if fm is None:
                continue
            first = first or fm
            scores.append(box_ncc(noisy, *fm, centre))
        if first is None:
            continue
        bg_map = local_ncc(noisy, *first)
        inner = np.zeros(noisy.shape, bool)
        inner[half:-half, half:-half, half:-half] = True
        bg = bg_map[outside & inner]
        peaks = bg_map[(bg_map == ndimage.maximum_filter(bg_map, size=2 * half + 1)) & outside & inner]
        n = len(mine)
        bar = float(np.sort(peaks)[::-1][min(n, len(peaks)) - 1]) if len(peaks) else float("nan")
        s = np.array(scores)
        rows.append(dict(class_name=row.class_name, n=n, scored=len(s),
                         d_prime=(s.mean() - bg.mean()) / bg.std(),
                         above=float((s > bar).mean()) if np.isfinite(bar) else float("nan"),
                         score=s.mean(), bar=bar))
    return pd.DataFrame(rows)


def public_folders(tomo: Path, library_dir: Path, work: Path) -> tuple[Path, Path]:
    """A public folder (test = the tomogram, train = the same with its truth) and the private truth."""
    public, private = work / "public", work / "private"
    for folder in (public, private):
        if folder.exists():
            shutil.rmtree(folder)
    shutil.copytree(library_dir, public / "structures")
    shutil.copyfile(tomo / CLASSES_CSV, public / CLASSES_CSV)
    shutil.copytree(tomo, public / "train" / tomo.name)
    (public / "test" / tomo.name).mkdir(parents=True)
    for name in PUBLIC_TEST_FILES:
        if (tomo / name).is_file():
            shutil.copyfile(tomo / name, public / "test" / tomo.name / name)
    shutil.copytree(tomo, private / "test" / tomo.name)
    shutil.copyfile(tomo / CLASSES_CSV, private / CLASSES_CSV)
    return public, private


def run_tm(public: Path, private: Path, work: Path, args: argparse.Namespace) -> dict[str, dict]:
    """TM-F and TM-T (one scan) through the CLI, scored; ``{rule: score report}``."""
    import yaml

    section = yaml.safe_load((ROOT / "params.yaml").read_text())["baselines"]["tm"]
    section.update(candidates_factor=args.candidates_factor, device="cpu", threads=args.threads)
    params = work / "tm_params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"tm": section}}))
    exe = [sys.executable, "-m", "tomobench"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(work / "tm.log", "w") as log:            # the matcher's progress bars and per-class lines
        done = subprocess.run(exe + ["baseline", "tm", "--data", str(public), "--out", str(work / "tm_f.csv"),
                                     "--other-out", str(work / "tm_t.csv"), "--params", str(params), "--rule", "F",
                                     "--angular-step", str(args.angular_step), "--bin", str(args.bin)],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"tomobench baseline tm failed; see {work / 'tm.log'}" +
                         ("" if args.work else " (use --work DIR to keep it)"))
    reports = {}
    for rule, sub in (("TM-F", "tm_f.csv"), ("TM-T", "tm_t.csv")):
        out = work / f"score_{sub.replace('.csv', '.json')}"
        subprocess.run(exe + ["score", str(work / sub), "--truth", str(private / "test"), "--out", str(out),
                              "--quiet"], check=True, env=env)
        reports[rule] = json.loads(out.read_text())
    return reports


def simulate(args: argparse.Namespace, work: Path) -> tuple[Path, Path, pd.DataFrame, dict]:
    """Library + one tomogram of the shrec2020 preset on the crop; (tomo, library dir, classes, timings)."""
    timings = {}
    config = load_config("shrec2020")
    structures = config.structures.model_copy(update={"source": str(class_folder(Path(args.shared), work / "classes")),
                                                       "pictures": False})
    t0 = time.perf_counter()
    library = build_library(structures)
    timings["library"] = time.perf_counter() - t0
    library_dir = save_library(library, work / "structures")
    scene = config.scene.model_copy(update={"shape_xyz": tuple(args.crop)})
    rec = config.imaging.reconstruction.model_copy(update={"noise_free": True})
    imaging = config.imaging.model_copy(update={"reconstruction": rec, "progress": False, "device": "cpu"})
    t0 = time.perf_counter()
    tomo = simulate_tomogram(library, scene, imaging, args.seed, 0, work / "tomograms")
    timings["simulate"] = time.perf_counter() - t0
    acq = json.loads((tomo / "acquisition.json").read_text())
    if acq.get("reconstruction_z_offset_vox", 0) != 0:
        raise SystemExit("the reconstruction is not on the sample grid (reconstruction.thickness_vox); "
                         "the oracle needs it there")
    print(f"shrec2020 preset on a {' x '.join(map(str, args.crop))} crop, seed {args.seed}: "
          f"{len(acq['tilt_angles_deg'])} tilts, noise_mode {config.imaging.detector.noise_mode} at its parameter "
          f"snr {config.imaging.detector.snr}, measured SNR {acq.get('snr_measured')} (acquisition.json), "
          f"projection {config.imaging.projection.mode}")
    classes = library.classes.table.sort_values("label")
    return tomo, library_dir, classes, timings


def print_table(classes: pd.DataFrame, det: pd.DataFrame, reports: dict[str, dict]) -> None:
    det = det.set_index("class_name")
    cols = f"{'class':6} {'kDa':>7} {'T1 kDa':>7} {'group':6} {'N':>4} {'d_prime':>7} {'above':>6}"
    for rule in reports:
        cols += f" | {rule + ' F1':>8} {'SHREC':>6}"
    print("\n" + cols)
    print("-" * len(cols))
    for row in classes.itertuples():
        nan = float("nan")
        n, d_prime, above = ((int(det.loc[row.class_name].n), det.loc[row.class_name].d_prime,
                              det.loc[row.class_name].above) if row.class_name in det.index else (0, nan, nan))
        line = (f"{row.class_name:6} {row.mass_kda:7.1f} {SHREC_MASS_KDA.get(row.class_name, nan):7.1f} "
                f"{row.size_group:6} {n:4d} {d_prime:7.2f} {above:6.2f}")
        for rule, rep in reports.items():
            f1 = rep["per_class"].get(row.class_name, {}).get("f1", float("nan"))
            line += f" | {f1:8.3f} {SHREC_TABLE4[rule].get(row.class_name, float('nan')):6.3f}"
        print(line)
    for rule, rep in reports.items():
        groups = rep["size_groups"]
        print(f"{rule} size groups (ours / SHREC Table 6): " + ", ".join(
            f"{g} {groups.get(g, 0.0):.3f} / {SHREC_TABLE6[rule][g]:.3f}" for g in ("small", "medium", "large")))


def pick_outcomes(picks_csv: Path, tomo: Path, classes: pd.DataFrame) -> pd.DataFrame:
    """Where a rule's picks land, per picked class: on a particle of that class, of another, or on none.

    A pick lands on the particle whose occupancy-mask voxel holds it (SHREC 2020's hit rule), at the
    rounded voxel; ``other`` also names the class most often hit instead.
    """
    occupancy, _ = read_volume(tomo / OCCUPANCY_MASK)
    occupancy = np.asarray(occupancy)
    parts = pd.read_parquet(tomo / "particles.parquet").set_index("id")["class"]
    picks = pd.read_csv(picks_csv)
    zyx = np.rint(picks[["z", "y", "x"]].to_numpy(float)).astype(int)
    zyx = np.clip(zyx, 0, np.array(occupancy.shape) - 1)
    pid = occupancy[zyx[:, 0], zyx[:, 1], zyx[:, 2]]
    picks["hit"] = [parts.get(int(i), "") if i > 0 else "" for i in pid]
    rows = []
    for name in classes["class_name"]:
        mine = picks[picks["class"] == name]
        wrong = mine[(mine["hit"] != "") & (mine["hit"] != name)]["hit"]
        rows.append(dict(class_name=name, picks=len(mine), right=int((mine["hit"] == name).sum()),
                         other=len(wrong), background=int((mine["hit"] == "").sum()),
                         mostly=wrong.value_counts().index[0] if len(wrong) else "-"))
    return pd.DataFrame(rows)


def print_outcomes(work: Path, tomo: Path, classes: pd.DataFrame) -> None:
    for rule, sub in (("TM-F", "tm_f.csv"), ("TM-T", "tm_t.csv")):
        out = pick_outcomes(work / sub, tomo, classes)
        print(f"\n{rule} picks by where they land (occupancy mask): class picks right other (mostly) background")
        for r in out.itertuples():
            print(f"  {r.class_name:6} {r.picks:5d} {r.right:5d} {r.other:5d} ({r.mostly:6}) {r.background:5d}")
        print(f"  all    {out.picks.sum():5d} {out.right.sum():5d} {out.other.sum():5d}          "
              f"{out.background.sum():5d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "structures"))
    parser.add_argument("--crop", type=int, nargs=3, default=[256, 256, 200], metavar=("X", "Y", "Z"))
    parser.add_argument("--angular-step", type=float, default=30.0)
    parser.add_argument("--bin", type=int, choices=[1, 2], default=2)
    parser.add_argument("--candidates-factor", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", help="working folder (default: a temporary one, removed at the end)")
    parser.add_argument("--skip-tm", action="store_true", help="oracle detectability only")
    parser.add_argument("--oracle-dilation", type=int, default=1, metavar="VOXELS",
                        help="the oracle filter's mask: the particle's occupancy dilated by this many voxels")
    args = parser.parse_args()
    import tempfile

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_fidelity_"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        tomo, library_dir, classes, timings = simulate(args, work)
        t0 = time.perf_counter()
        det = detectability(tomo, classes, args.oracle_dilation)
        timings["oracle"] = time.perf_counter() - t0
        reports = {}
        if not args.skip_tm:
            t0 = time.perf_counter()
            reports = run_tm(*public_folders(tomo, library_dir, work), work, args)
            timings["tm+score"] = time.perf_counter() - t0
        print_table(classes, det, reports)
        if reports:
            print_outcomes(work, tomo, classes)
        print("\nd_prime: (mean oracle score - mean background) / background std; above: fraction of particles "
              "whose oracle score beats the background's N-th peak (N = the class's particles); T1: SHREC Table 1; "
              f"oracle mask: occupancy dilated by {args.oracle_dilation} voxel(s)")
        if reports:
            print(f"TM: --angular-step {args.angular_step:g} --bin {args.bin} --candidates-factor "
                  f"{args.candidates_factor:g}; SHREC columns: Table 4 (per class) and Table 6 (size groups)")
        print("wall (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
              + f", total {time.perf_counter() - start:.0f}; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
