"""Template-matching benchmark: kernel speed, exhaustive vs coarse-to-fine on a crop, full-tomogram timing.

    PYTHONPATH=$PWD python benchmarks/bench_tm.py [--threads 1] [--device auto]
        [--data PUBLIC --truth PRIVATE [--crop 96,96,64] [--classes a,b] [--tomos test,train] [--params P]]
        [--coarse-step 30] [--bin 2] [--fine-step 12.85] [--compare-fine-step 20]
        [--full-shape 512,512,200] [--per-class 218] [--candidates-factor 3] [--screen-factor 10]

1. **Kernel**: rotations per second of the full matcher beside the bare FFT
   floor (forward FFT of the padded rotated template, product with the
   tomogram's spectrum, inverse FFT; batched like the matcher), interleaved so
   machine load hits both alike. Target: full / floor <= 1.3.
2. **Exhaustive vs refined** (with ``--data``): on a centred crop of the first
   test tomogram, per class: the exhaustive search at the fine step at full
   resolution, and the coarse-to-fine search (bin, coarse step, refinement at the
   fine step; ``--screen-factor`` x N peaks screened, ``--candidates-factor`` x N refined),
   both followed by TM-F; per-class F1 by centre distance (a pick
   within the class's effective radius of an unclaimed particle of its class;
   not the occupancy-mask scorer) and the cost ratio (measured wall time).
3. **Full tomogram** (``--full-shape``, 12 classes of the structure library at
   ``--data`` (point groups detected on its templates) or of 12 radii from
   3.5 to 12 voxels (C1)): measured per-rotation times of the scan
   kernel on the binned full-size volume and of the refinement's box
   correlations for each class's template size, times the rotation and
   candidate counts of the search: an *extrapolation*, printed as such, beside
   the same extrapolation for the exhaustive search at the fine step.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from baselines.params_io import load_method_params
from baselines.public_data import public_classes, public_templates, split_tomograms
from baselines.template_matching import so3
from baselines.template_matching.cli import TMParams, candidate_counts, expected_counts, read_dataset, templates_for
from baselines.template_matching.correlation import LocalCorrelator
from baselines.template_matching.fiducials import erase_fiducials
from baselines.template_matching.matching import CorrelationStats, PreparedTemplate, detect_symmetry, match_template
from baselines.template_matching.refine import TemplateBank, _refine_one, _Search, _Volume
from baselines.template_matching.search import ScanSettings, search_class
from baselines.template_matching.selection import tm_f
from baselines.template_matching.templates import spherical_mask, wedge_mask
from baselines.torch_common import resolve_device
from tomobench.euler import matrix_to_euler, random_rotations
from tomobench.particles import make_particles, read_particles


def bare_correlation(corr: LocalCorrelator, templates: torch.Tensor) -> torch.Tensor:
    """Floor: rfftn of the padded templates, product with the volume spectrum, irfftn."""
    padded = torch.zeros((templates.shape[0],) + corr.fft_shape, device=corr.device)
    n = templates.shape[-1]
    padded[:, :n, :n, :n] = templates
    ft = torch.fft.rfftn(padded, dim=(-3, -2, -1))
    return torch.fft.irfftn(torch.conj(ft) * corr.fv, s=corr.fft_shape, dim=(-3, -2, -1))


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _random_template(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mask = spherical_mask(n, n / 2 - 3, 1.0)
    return (rng.normal(size=(n,) * 3) * mask).astype(np.float32), mask


def kernel_ratio(shape, n: int, n_rot: int, batch: int, device: str, repeats: int = 3) -> tuple[float, float]:
    """Seconds per rotation of the bare FFT floor and of the full matcher (best of ``repeats``)."""
    rng = np.random.default_rng(0)
    volume = rng.normal(size=shape).astype(np.float32)
    template, mask = _random_template(n, rng)
    tpl = PreparedTemplate("bench", template, mask, n / 2 - 3, so3.sample_rotations(10.0)[:n_rot], so3.PointGroup())
    corr = LocalCorrelator(volume, mask, device=device)
    batch_templates = torch.as_tensor(np.repeat(template[None], batch, 0), device=device)

    def run_floor():
        for _ in range(0, n_rot, batch):
            bare_correlation(corr, batch_templates)
        _sync(device)

    def run_full():
        match_template(volume, tpl, tilt_range_deg=(-60.0, 60.0), device=device, batch=batch, progress=False,
                       stats=CorrelationStats())   # as the pipeline runs it (the erfc statistics included)
        _sync(device)

    floor, full = [], []
    with torch.no_grad():
        run_floor()
        run_full()   # warm-up (plans, allocations)
        for _ in range(repeats):
            for fn, out in ((run_floor, floor), (run_full, full)):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
    return min(floor) / n_rot, min(full) / n_rot


def class_counts(picks, truth, radius_vox: dict[str, float]) -> dict[str, tuple[int, int, int]]:
    """Per class (hits, picks, particles): a pick hits the nearest unclaimed particle of its class within its radius."""
    out = {}
    for name, r in radius_vox.items():
        p = picks[picks["class"] == name][["x", "y", "z"]].to_numpy(float)
        t = truth[truth["class"] == name][["x", "y", "z"]].to_numpy(float)
        claimed, tp = np.zeros(len(t), bool), 0
        for q in p:
            if not len(t):
                break
            d = np.linalg.norm(t - q, axis=1)
            d[claimed] = np.inf
            j = int(np.argmin(d))
            if d[j] <= r:
                claimed[j], tp = True, tp + 1
        out[name] = (tp, len(p), len(t))
    return out


def f1_of(counts: tuple[int, int, int]) -> float:
    """F1 = 2 hits / (picks + particles) (0 without hits)."""
    tp, n_picks, n_truth = counts
    return 0.0 if tp == 0 else 2 * tp / (n_picks + n_truth)


def class_f1(picks, truth, radius_vox: dict[str, float]) -> dict[str, float]:
    """Per-class F1 of :func:`class_counts`."""
    return {name: f1_of(c) for name, c in class_counts(picks, truth, radius_vox).items()}


def _crop(volume: np.ndarray, truth, size_zyx) -> tuple[np.ndarray, object]:
    lo = [(s - c) // 2 for s, c in zip(volume.shape, size_zyx)]
    crop = volume[tuple(slice(a, a + c) for a, c in zip(lo, size_zyx))]
    xyz = truth[["x", "y", "z"]].to_numpy(float) - np.array(lo[::-1])
    inside = np.all((xyz >= 0) & (xyz < np.array(size_zyx[::-1])), axis=1)
    kept = truth[inside].copy()
    kept[["x", "y", "z"]] = xyz[inside]
    return np.ascontiguousarray(crop), kept


def _compare_tomogram(tomo, args, params: TMParams, data, device: str):
    """Both searches on one tomogram's crop: per-class counts of each, rows (name, rotations, times), particles."""
    volume, _ = tomo.reconstruction()
    acq = tomo.acquisition()
    voxel_a = float(acq["voxel_size_a"])
    if data.fiducial_z is not None:     # as the pipeline does, before cropping
        volume = erase_fiducials(volume, data.sign, z_threshold=data.fiducial_z, seed=params.seed).volume
    crop, truth = _crop(volume, tomo.truth() if tomo.has_truth else
                        read_particles(Path(args.truth) / tomo.name / "particle_locations.txt"),
                        [int(v) for v in args.crop.split(",")][::-1])
    n_expected = expected_counts(params, data, crop.size)
    tilts = np.asarray(acq["tilt_angles_deg"], float)
    scan = dict(tilt_range_deg=(tilts.min(), tilts.max()), device=device, batch=8)
    picks: dict[str, list] = {"exh": [], "c2f": []}
    radii_full = {c: data.bulk_a[c] / voxel_a for c in data.names}
    rows = []
    for name in data.names:
        coarse, fine = templates_for(name, params, data, acq, voxel_a)
        n_screen, keep = candidate_counts(params, n_expected[name])
        t0 = time.perf_counter()
        exh = search_class(crop, fine, None, settings=ScanSettings(bin=1, **scan), exclusion_vox=radii_full[name],
                           n_candidates=int(np.ceil(params.candidates_factor * n_expected[name])))
        t1 = time.perf_counter()
        c2f = search_class(crop, coarse, fine, settings=ScanSettings(bin=args.bin, **scan), n_candidates=n_screen,
                           exclusion_vox=radii_full[name] / args.bin, coarse_step_deg=coarse.step_deg,
                           fine_step_deg=args.compare_fine_step, refine_keep=keep)
        t2 = time.perf_counter()
        for key, found in (("exh", exh), ("c2f", c2f)):
            picks[key].append(make_particles([name] * len(found.scores), found.zyx[:, ::-1],
                                             matrix_to_euler(found.rotations).reshape(-1, 3), score=found.scores))
        rows.append((name, len(fine.rotations), len(coarse.rotations), t1 - t0, t2 - t1))
    size = data.mass if all(c in data.mass for c in data.names) else None
    counts = {k: class_counts(tm_f(pd.concat(v, ignore_index=True), n_expected, radii_full, size), truth, radii_full)
              for k, v in picks.items()}
    return counts, rows, truth


def compare(args, device: str) -> None:
    """Section 2: exhaustive (fine step, bin 1) vs coarse-to-fine on crops, per class, pooled over ``--tomos``."""
    params = load_method_params(TMParams, "tm", args.params, {}) if args.params else TMParams()
    params = params.model_copy(update=dict(
        angular_step_deg=args.coarse_step, bin=args.bin, refine=True, fine_step_deg=args.compare_fine_step,
        screen_factor=args.screen_factor, candidates_factor=args.candidates_factor, device=device,
        classes=args.classes.split(",") if args.classes else None))
    if args.coarse_min_rotations is not None:
        params.coarse_min_rotations = args.coarse_min_rotations or None    # 0: off
    data = read_dataset(Path(args.data), params)
    splits = {"test": data.test, "train": split_tomograms(Path(args.data), "train")}
    tomos = [t for split in args.tomos.split(",") for t in splits[split]]
    total = {k: {c: (0, 0, 0) for c in data.names} for k in ("exh", "c2f")}
    times: dict[str, list[float]] = {c: [0.0, 0.0] for c in data.names}
    particles = {c: 0 for c in data.names}
    rotations = {}
    for tomo in tomos:
        counts, rows, truth = _compare_tomogram(tomo, args, params, data, device)
        for k in total:
            total[k] = {c: tuple(a + b for a, b in zip(total[k][c], counts[k][c])) for c in data.names}
        for name, n_fine, n_coarse, te, tc in rows:
            times[name][0] += te
            times[name][1] += tc
            rotations[name] = (n_fine, n_coarse)
            particles[name] += int((truth["class"] == name).sum())
    print(f"\n## exhaustive ({args.compare_fine_step} deg, bin 1) vs coarse-to-fine ({args.coarse_step} deg, "
          f"coarse_min_rotations {params.coarse_min_rotations}, "
          f"bin {args.bin}, {args.screen_factor:g} N screened, {args.candidates_factor:g} N refined at "
          f"{args.compare_fine_step} deg) on {args.crop} (xyz) crops of {', '.join(t.name for t in tomos)}; "
          f"TM-F on each; F1 by centre distance, pooled over the tomograms\n")
    print("| class | group | particles | rotations exh. / coarse | F1 exhaustive | F1 coarse-to-fine "
          "| time exh. (s) | time c2f (s) | cost ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    groups = {r.class_name: r.size_group for r in read_dataset_table(Path(args.data))}
    f1 = {k: {c: f1_of(v[c]) for c in data.names} for k, v in total.items()}
    for name in data.names:
        te, tc = times[name]
        print(f"| {name} | {groups.get(name, '')} | {particles[name]} | {rotations[name][0]} / {rotations[name][1]} "
              f"| {f1['exh'][name]:.3f} | {f1['c2f'][name]:.3f} | {te:.1f} | {tc:.1f} | {te / tc:.1f} |")
    diff = max(abs(f1["exh"][c] - f1["c2f"][c]) for c in data.names)
    t_exh, t_c2f = sum(t[0] for t in times.values()), sum(t[1] for t in times.values())
    print(f"\ntotal: exhaustive {t_exh:.1f} s, coarse-to-fine {t_c2f:.1f} s, cost ratio {t_exh / t_c2f:.1f} "
          f"(target >= 20); largest per-class F1 difference {diff:.3f} (target <= 0.05)")


def read_dataset_table(public: Path):
    return list(public_classes(public).table.itertuples())


def _refine_costs(n: int, coarse_step: float, fine_step: float, group: so3.PointGroup, shift: int,
                  device: str) -> tuple[float, float, int]:
    """Measured refinement costs for a template box ``n^3``: seconds per rotated template (bank),
    seconds per candidate with warm banks, and the fine rotations one candidate scores."""
    rng = np.random.default_rng(1)
    template, mask = _random_template(n, rng)
    tpl = PreparedTemplate("b", template, mask, n / 2 - 3, so3.sample_rotations(fine_step, group), group)
    volume = rng.normal(size=(2 * n + 2 * shift,) * 3).astype(np.float32)
    wedge = torch.as_tensor(wedge_mask((n,) * 3, -60.0, 60.0), device=device)
    fine = TemplateBank(tpl, tpl.rotations, wedge, device)
    seeds = TemplateBank(tpl, so3.sample_rotations(coarse_step, group), wedge, device)
    vol = _Volume(volume, n // 2 + 2 * shift + 2, device)
    search = _Search(vol, vol.offsets(fine), fine, seeds, group, coarse_step + fine_step, shift, 3)
    centre, start = np.array(volume.shape) // 2, random_rotations(1, rng)[0]
    with torch.no_grad():
        t0 = time.perf_counter()
        seeds.get(np.arange(len(seeds.matrices)))
        _sync(device)
        per_template = (time.perf_counter() - t0) / len(seeds.matrices)
        _, _, _, cost = _refine_one(search, centre, start)   # warms the fine bank
        t0 = time.perf_counter()
        for _ in range(3):
            _refine_one(search, centre, start)
        _sync(device)
    ball = cost // 27 - len(seeds.matrices)       # fine rotations scored (+ at most shift hill-climb steps)
    return per_template, (time.perf_counter() - t0) / 3, int(ball)


def _box_size(radius_vox: float, edge_vox: float = 1.0) -> int:
    """Template box of :func:`~baselines.template_matching.matching.prepare_template` for a radius."""
    return 2 * int(np.ceil(max(radius_vox + 1.0, 2.0) + 3 * edge_vox)) + 1


def full_timing(args, device: str) -> None:
    """Section 3: measured kernel and box times, extrapolated to a full tomogram and 12 classes."""
    shape = tuple(int(v) for v in args.full_shape.split(","))[::-1]          # zyx
    binned = tuple(s // args.bin for s in shape)
    if args.data:
        table = read_dataset_table(Path(args.data))
        radii = {r.class_name: float(r.radius_nm) * 10.0 / args.voxel_a for r in table if r.scored}
        templates, _ = public_templates(Path(args.data), list(radii))
        symmetry = {c: detect_symmetry(t) for c, t in templates.items()}   # as the pipeline detects it
    else:
        radii = dict(zip([f"class_{i}" for i in range(12)], np.linspace(3.5, 12.0, 12)))
        symmetry = {c: so3.PointGroup() for c in radii}
    print(f"\n## full tomogram {args.full_shape} (xyz), {len(radii)} classes: measured parts, extrapolated\n")
    rng = np.random.default_rng(3)
    t_scan = {}
    for n in sorted({_box_size(r / args.bin) for r in radii.values()}):
        t_scan[n] = _scan_seconds(binned, n, device, rng)
    t_exh_full = _scan_seconds(shape, _box_size(float(np.median(list(radii.values())))), device, rng,
                               n_rot=2, batch=1)
    shift = args.bin + 1
    total_c2f = total_exh = 0.0
    print("| class | group | radius (vox) | box | coarse rotations | fine rotations | fine / candidate "
          "| candidates | scan (s) | templates (s) | candidates (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cands = int(np.ceil(args.candidates_factor * args.per_class))
    for name, r in radii.items():
        g = symmetry[name]
        n_coarse, n_fine = so3.rotation_count(args.coarse_step, g), so3.rotation_count(args.fine_step, g)
        n_box = _box_size(r)
        per_template, per_candidate, ball = _refine_costs(n_box, args.coarse_step, args.fine_step, g, shift, device)
        scan_s = n_coarse * t_scan[_box_size(r / args.bin)]
        templates_s = (n_coarse + min(n_fine, cands * ball)) * per_template   # each rotated once (cached)
        cand_s = cands * per_candidate
        total_c2f += scan_s + templates_s + cand_s
        total_exh += n_fine * t_exh_full
        print(f"| {name} | {g} | {r:.1f} | {n_box} | {n_coarse} | {n_fine} | {ball} | {cands} | {scan_s:.0f} "
              f"| {templates_s:.0f} | {cand_s:.0f} |")
    print(f"\nextrapolated coarse-to-fine: {total_c2f / 60:.1f} min ({total_c2f / 3600:.2f} h; target <= 1 h); "
          f"exhaustive at {args.fine_step} deg, bin 1: {total_exh / 3600:.1f} h "
          f"(measured {t_exh_full:.2f} s per rotation at {args.full_shape})")


def _scan_seconds(shape, n: int, device: str, rng, n_rot: int = 16, batch: int = 8) -> float:
    """Measured seconds per rotation of the scan kernel on a random volume of ``shape``."""
    volume = rng.normal(size=shape).astype(np.float32)
    template, mask = _random_template(n, rng)
    tpl = PreparedTemplate("s", template, mask, n / 2 - 3, random_rotations(n_rot, rng), so3.PointGroup())
    with torch.no_grad():
        t0 = time.perf_counter()
        match_template(volume, tpl, tilt_range_deg=(-60.0, 60.0), device=device, batch=batch, progress=False)
        _sync(device)
    return (time.perf_counter() - t0) / n_rot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--template", type=int, default=32)
    ap.add_argument("--rotations", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", help="public folder (section 2 and real class sizes in section 3)")
    ap.add_argument("--truth", help="private folder with <tomo>/particle_locations.txt")
    ap.add_argument("--crop", default="96,96,64", help="crop size x,y,z for section 2")
    ap.add_argument("--classes")
    ap.add_argument("--params", help="params.yaml whose baselines.tm section (point groups, ...) section 2 starts from")
    ap.add_argument("--tomos", default="test", help="section 2 on these splits' tomograms, pooled: test or test,train")
    ap.add_argument("--coarse-step", type=float, default=30.0)
    ap.add_argument("--coarse-min-rotations", type=int, help="section 2: finer coarse step below this many rotations "
                    "(default: the --params value, else off)")
    ap.add_argument("--bin", type=int, default=2)
    ap.add_argument("--fine-step", type=float, default=12.85, help="final step of the full-tomogram timing")
    ap.add_argument("--compare-fine-step", type=float, default=20.0, help="fine step of section 2")
    ap.add_argument("--candidates-factor", type=float, default=3.0)
    ap.add_argument("--screen-factor", type=float, default=10.0, help="coarse-to-fine: peaks screened x N")
    ap.add_argument("--full-shape", default="512,512,200")
    ap.add_argument("--per-class", type=int, default=218, help="N per class (SHREC 2020: ~2,600 / 12)")
    ap.add_argument("--voxel-a", type=float, default=10.0)
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: kernel,compare,full")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    skip = set(args.skip.split(","))
    print(f"device {device}" + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else "")
          + f", torch threads {torch.get_num_threads()}")
    if "kernel" not in skip:
        f, m = kernel_ratio((args.size,) * 3, args.template, args.rotations, args.batch, device, args.repeats)
        print(f"\n## kernel: volume {args.size}^3, template {args.template}^3, {args.rotations} rotations, "
              f"batch {args.batch}\n")
        print(f"bare FFT correlation floor: {1 / f:8.1f} rotations/s  ({1e3 * f:.2f} ms/rotation)")
        print(f"full template matching:     {1 / m:8.1f} rotations/s  ({1e3 * m:.2f} ms/rotation)")
        print(f"ratio full / floor: {m / f:.2f}  (target <= 1.3)")
    if "compare" not in skip:
        if args.data and args.truth:
            compare(args, device)
        else:
            print("\n## exhaustive vs coarse-to-fine: skipped (needs --data PUBLIC --truth PRIVATE)")
    if "full" not in skip:
        full_timing(args, device)


if __name__ == "__main__":
    main()
