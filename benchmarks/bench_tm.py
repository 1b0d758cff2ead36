"""Template-matching speed: rotations per second beside the bare FFT-correlation floor.

    PYTHONPATH=$PWD python benchmarks/bench_tm.py [--size 128] [--template 32] [--rotations 64]
                                                   [--batch 8] [--threads 2] [--device auto]

The floor is what any FFT template matcher must pay per rotation at this size:
the forward FFT of the zero-padded rotated template, the product with the
tomogram's spectrum and the inverse FFT (batched like the matcher). The full
matcher adds rotation, missing-wedge filtering, normalisation under the mask,
the division by the local std map and the running arg-max. Both are timed in
the same run, interleaved, so machine load hits both alike.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines.template_matching import so3
from baselines.template_matching.correlation import LocalCorrelator
from baselines.template_matching.matching import PreparedTemplate, match_template
from baselines.template_matching.templates import spherical_mask
from baselines.torch_common import resolve_device


def bare_correlation(corr: LocalCorrelator, templates: torch.Tensor) -> torch.Tensor:
    """Floor: rfftn of the padded templates, product with the volume spectrum, irfftn."""
    padded = torch.zeros((templates.shape[0],) + corr.fft_shape, device=corr.device)
    n = templates.shape[-1]
    padded[:, :n, :n, :n] = templates
    ft = torch.fft.rfftn(padded, dim=(-3, -2, -1))
    return torch.fft.irfftn(torch.conj(ft) * corr.fv, s=corr.fft_shape, dim=(-3, -2, -1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--template", type=int, default=32)
    ap.add_argument("--rotations", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(args.size,) * 3).astype(np.float32)
    n = args.template
    mask = spherical_mask(n, n / 2 - 3, 1.0)
    template = (rng.normal(size=(n,) * 3) * mask).astype(np.float32)
    rotations = so3.sample_rotations(10.0)[: args.rotations]
    tpl = PreparedTemplate("bench", template, mask, n / 2 - 3, rotations, so3.PointGroup())
    corr = LocalCorrelator(volume, mask, device=device)
    batch_templates = torch.as_tensor(np.repeat(template[None], args.batch, 0), device=device)

    def run_floor():
        for _ in range(0, len(rotations), args.batch):
            bare_correlation(corr, batch_templates)
        if device == "cuda":
            torch.cuda.synchronize()

    def run_full():
        match_template(volume, tpl, tilt_range_deg=(-60.0, 60.0), device=device, batch=args.batch, progress=False)
        if device == "cuda":
            torch.cuda.synchronize()

    with torch.no_grad():
        run_floor()
        run_full()   # warm-up (plans, allocations)
        floor, full = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run_floor()
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_full()
            full.append(time.perf_counter() - t0)
    rot = len(rotations)
    f, m = min(floor), min(full)
    print(f"device {device}, torch threads {torch.get_num_threads()}, volume {args.size}^3 "
          f"(FFT {corr.fft_shape}), template {n}^3, {rot} rotations, batch {args.batch}")
    print(f"bare FFT correlation floor: {rot / f:8.1f} rotations/s  ({1e3 * f / rot:.2f} ms/rotation)")
    print(f"full template matching:     {rot / m:8.1f} rotations/s  ({1e3 * m / rot:.2f} ms/rotation, "
          f"includes the std map once)")
    print(f"ratio full / floor: {m / f:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
