"""Benchmark of the imaging stage (tilt series + reconstruction). Prints figures; asserts nothing.

    PYTHONPATH=$PWD python benchmarks/bench_microscope.py                 # shrec2020 size: 512x512x200, 41 views
    PYTHONPATH=$PWD python benchmarks/bench_microscope.py --shape 100 256 256 --step 3 --scipy-views 10

Reports: the fast pipeline (defocus gradient by 50 nm slabs, CTF, counting detector, SHREC 2020's
noise at nominal SNR 0.004, WBP back to the sample grid) with its per-stage breakdown and the process's
peak memory; the projector alone and the WBP alone; the multislice mode (5 nm slices); and a plain
scipy rotate-and-sum of the same views (ndimage.rotate, linear interpolation, then a sum along z)
measured in the same run, with the projector's speed as a ratio to it.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time

import numpy as np
import torch
from scipy import ndimage

from baselines.template_matching.matching import bin_volume
from generator.imaging import ImagingParams, image_sample
from generator.microscope.geometry import tilt_angles
from generator.microscope.projector import depth_extent, project
from generator.reconstruction.wbp import wbp


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def phantom(shape, n_particles, rng) -> np.ndarray:
    """A crowded SHREC-like sample: ice at 0 with soft balls of radius 3-9 voxels (values ~1)."""
    nz, ny, nx = shape
    vol = np.zeros(shape, np.float32)
    for _ in range(n_particles):
        r = rng.uniform(3, 9)
        c = rng.uniform([r, r, r], [nz - r, ny - r, nx - r])
        lo = np.floor(c - r - 2).astype(int).clip(0)
        hi = np.minimum(np.ceil(c + r + 2).astype(int), shape)
        z, y, x = np.ogrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        d = np.sqrt((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2)
        vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += np.clip(r - d + 0.5, 0, 1)
    return vol


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=[200, 512, 512], metavar=("Z", "Y", "X"))
    ap.add_argument("--step", type=float, default=3.0, help="tilt step (degrees) over -60..60 (SHREC 2020: 3)")
    ap.add_argument("--particles", type=int, default=2600)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--scipy-views", type=int, default=0,
                    help="time the scipy reference on this many views and scale to all (0 = all views)")
    ap.add_argument("--skip-multislice", action="store_true")
    ap.add_argument("--tilt-axis-deg", type=float, default=0.0,
                    help="tilt axis on the detector (0 = along y, no in-plane interpolation)")
    ap.add_argument("--multislice-step", type=float, default=0.0,
                    help="time the multislice mode on -60..60 in this step and scale to all views (0 = all views)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = tuple(args.shape)
    angles = tilt_angles(-60, 60, args.step)
    n = len(angles)
    print(f"sample {shape[2]}x{shape[1]}x{shape[0]} (x y z) at 10 Å, {n} views, torch threads {args.threads}, "
          f"device {'cuda' if torch.cuda.is_available() else 'cpu'}, load average {os.getloadavg()[0]:.1f}")
    t = time.perf_counter()
    vol = phantom(shape, args.particles, rng)
    print(f"phantom: {time.perf_counter() - t:.1f} s, peak RSS so far {peak_rss_gib():.2f} GiB")

    params = ImagingParams(progress=False)
    params.acquisition.tilt_step_deg = args.step
    params.detector.noise_mode, params.detector.snr = "shrec2020", 0.004  # SHREC 2020's noise (var-ratio ~0.15)
    params.optics.ctf_decay_nyquist = 0.4
    params.acquisition.tilt_axis_deg = args.tilt_axis_deg
    t = time.perf_counter()
    res = image_sample(vol, 10.0, params, np.random.default_rng(1))
    total = time.perf_counter() - t
    print(f"\nfast pipeline (50 nm slabs, CTF, counting detector, SNR 0.004, tilt axis {args.tilt_axis_deg}°, "
          f"projections {res.projections.shape[1:]}, WBP to {res.reconstruction.shape}): "
          f"{total:.1f} s")
    for stage, sec in res.timings_s.items():
        print(f"  {stage:<15s}{sec:8.1f} s")
    print(f"  peak RSS after it {peak_rss_gib():.2f} GiB; measured SNR {res.acquisition.snr_measured:.4f}")
    cc = np.corrcoef(res.reconstruction[::2, ::2, ::2].ravel(), vol[::2, ::2, ::2].ravel())[0, 1]
    cc4 = np.corrcoef(bin_volume(res.reconstruction, 4).ravel(), bin_volume(vol, 4).ravel())[0, 1]
    print(f"  correlation reconstruction vs phantom: {cc:.3f} per voxel, {cc4:.3f} after 4x binning")
    del res

    t = time.perf_counter()
    proj = project(vol, angles)
    t_proj = time.perf_counter() - t
    print(f"\nprojector alone (line integrals, {n} views): {t_proj:.1f} s")
    t = time.perf_counter()
    rec = wbp(proj, angles, shape[0]).numpy()
    print(f"WBP alone ({n} views -> {rec.shape}): {time.perf_counter() - t:.1f} s")
    del rec

    if not args.skip_multislice:
        params.projection.mode = "multislice"
        ms_step = args.multislice_step if args.multislice_step > 0 else args.step
        params.acquisition.tilt_step_deg = ms_step
        ms_angles = tilt_angles(-60, 60, ms_step)
        m = len(ms_angles)
        slice_vox = params.projection.multislice_slice_nm * 10.0 / 10.0  # 10 Å voxels
        slices = [max(1, math.ceil((hi - lo) / slice_vox))  # as projector.view_matrix counts its slabs
                  for lo, hi in (depth_extent(math.radians(a), shape[0], shape[2]) for a in ms_angles)]
        t = time.perf_counter()
        res = image_sample(vol, 10.0, params, np.random.default_rng(1))
        t_ms = time.perf_counter() - t
        per_view = res.timings_s["tilt_series"] / m
        print(f"\nmultislice pipeline (5 nm slices, {min(slices)}-{max(slices)} per view, {m} views): {t_ms:.1f} s "
              + ", ".join(f"{k} {v:.1f} s" for k, v in res.timings_s.items()))
        print(f"  multislice tilt series: {per_view:.2f} s per view"
              + (f", about {per_view * n:.0f} s for {n} views" if m != n else ""))
        del res

    k = n if args.scipy_views <= 0 else min(n, args.scipy_views)
    t = time.perf_counter()
    ref = []
    for a in angles[:k]:
        ref.append(ndimage.rotate(vol, a, axes=(0, 2), reshape=False, order=1).sum(axis=0))
    t_scipy = (time.perf_counter() - t) * n / k
    scaled = "" if k == n else f" (measured on {k} views, scaled to {n})"
    print(f"\nscipy rotate-and-sum reference, {n} views{scaled}: {t_scipy:.1f} s")
    mid = int(np.argmin(np.abs(angles)))
    if mid < k:
        print(f"  agreement at 0°: max |difference| {np.abs(ref[mid] - proj[mid].numpy()).max():.2e}")
    print(f"projector speed vs scipy: {t_scipy / t_proj:.1f}x faster "
          f"(whole fast pipeline: {t_scipy / total:.1f}x the reference's speed)")
    print(f"peak RSS of the run: {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
