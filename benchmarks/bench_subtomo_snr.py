"""What a tilt-image SNR (Xu et al. 2017's definition) is on the reconstructed subtomogram.

    PYTHONPATH=$PWD python benchmarks/bench_subtomo_snr.py --structures STRUCTURES [--box 24] \
        [--voxel-size-a 10] [--snr 0.1] [--tilt-max-deg 60] [--tilt-step-deg 2]

For the structure library folder ``STRUCTURES`` (``tomobench structures --out ...``), simulates
10 unshifted boxes per class with ``snr_definition: projection`` (noise per tilt image, direct
Fourier inversion) twice with the same draws, noise-free and at ``--snr``, and prints the
subtomogram-level SNR (var of the noise-free box / var of the noise): for the whole dataset at
one noise level (``noise_level: dataset``), per class at that level, and per class calibrated
alone (``noise_level: particle``); without optics and with the paper's CTF x MTF. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse

import numpy as np

from baselines.classifier.subtomo_task import (
    Imaging,
    dfi_geometry,
    load_templates,
    simulate_subtomograms,
    tilt_angles_deg,
    volume_snr_of_projection_snr,
)


def per_class_at_dataset_level(templates, snr, tilt, box, imaging) -> dict[str, float]:
    """Per-class subtomogram SNR when one (dataset) noise level serves every class."""
    args = dict(max_shift_vox=0, include_empty=False, imaging=imaging)
    clean, y, names = simulate_subtomograms(templates, 10, 1e12, tilt, box, np.random.default_rng(0), **args)
    noisy, _, _ = simulate_subtomograms(templates, 10, snr, tilt, box, np.random.default_rng(0), **args)
    noise_var = float((noisy - clean).var(axis=(1, 2, 3)).mean())
    signal = clean.var(axis=(1, 2, 3))
    return {name: float(signal[y == c].mean()) / noise_var for c, name in enumerate(names)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", required=True)
    ap.add_argument("--box", type=int, default=24)
    ap.add_argument("--voxel-size-a", type=float, default=10.0)
    ap.add_argument("--snr", type=float, default=0.1)
    ap.add_argument("--tilt-max-deg", type=float, default=60.0)
    ap.add_argument("--tilt-step-deg", type=float, default=2.0)
    a = ap.parse_args(argv)
    templates = load_templates(a.structures, voxel_size_a=a.voxel_size_a)
    g = dfi_geometry(a.box, tilt_angles_deg(a.tilt_max_deg, a.tilt_step_deg))
    print(f"box {a.box}^3 at {a.voxel_size_a} Å, ±{a.tilt_max_deg}° in {a.tilt_step_deg}° steps "
          f"({len(g.tilts_deg)} images); the series samples {g.mask.mean():.3f} of the box's DFT")
    for optics in ("none", "ctf_mtf"):
        im = Imaging(snr_definition="projection", optics=optics, voxel_size_a=a.voxel_size_a,
                     tilt_step_deg=a.tilt_step_deg)
        whole = volume_snr_of_projection_snr(templates, a.snr, a.tilt_max_deg, a.box, np.random.default_rng(0),
                                             n_per_class=10, imaging=im)["volume_snr"]
        shared = per_class_at_dataset_level(templates, a.snr, a.tilt_max_deg, a.box, im)
        print(f"\noptics {optics}: image SNR {a.snr:g} -> subtomogram SNR {whole:.4f} ({whole / a.snr:.2f}x), "
              "dataset noise level")
        print(f"{'class':28s} {'dataset level':>14s} {'own level':>10s}")
        for name in templates:
            own = volume_snr_of_projection_snr({name: templates[name]}, a.snr, a.tilt_max_deg, a.box,
                                               np.random.default_rng(0), n_per_class=10,
                                               imaging=im)["volume_snr"]
            print(f"{name:28s} {shared[name]:14.4f} {own:10.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
