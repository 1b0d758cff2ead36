"""The noise models measured on a real scene: SNR, equivalent dose, per-class oracle detectability, and
the fast mode against multislice at the shrec2020 setting. Prints figures; asserts nothing.

    PYTHONPATH=$PWD python benchmarks/bench_noise_models.py detect            # default preset, tomo_000
    PYTHONPATH=$PWD python benchmarks/bench_noise_models.py detect \\
        --settings '{"dose30": {"detector.noise_mode": "dose", "acquisition.dose_total_e_per_a2": 30}}'
    PYTHONPATH=$PWD python benchmarks/bench_noise_models.py fast-vs-multislice   # shrec2020 scene, 128x128x200 crop
    PYTHONPATH=$PWD python benchmarks/bench_noise_models.py picture --out docs/microscope_noise_models.png

detect: builds the preset's library and tomo_000's scene once, then images it under each setting
(keys ``section.key`` of the imaging parameters) with the noise-free reconstruction too, and prints per
class the *oracle* detectability: each particle's own noise-free reconstruction (inside its occupancy
mask, mean removed) correlated with the noisy reconstruction at its true position, as a z-score
against the same template at 60 random positions of the tomogram (clutter included); the median z
per class and the fraction of particles with z > 3. Its template knows the pose, so real pickers do worse.

fast-vs-multislice: noise-free views at 0, 30 and 60° of the shrec2020 imaging (without structural noise)
by multislice (5 nm slices), fast mode with 5 nm and with 50 nm depth slabs; correlation and relative
rms difference of the contrast.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from generator.imaging import image_sample
from generator.scene import build_scene
from generator.simulate import load_config, tomo_streams
from generator.structures import build_library

DEFAULT_SETTINGS = {
    "snr 0.02 (default)": {"detector.noise_mode": "snr", "detector.snr": 0.02},
    "dose 2.5 e/A2": {"detector.noise_mode": "dose", "acquisition.dose_total_e_per_a2": 2.5},
    "dose 30 e/A2": {"detector.noise_mode": "dose", "acquisition.dose_total_e_per_a2": 30.0},
    "dose 120 e/A2": {"detector.noise_mode": "dose", "acquisition.dose_total_e_per_a2": 120.0},
    "shrec2020 0.004": {"detector.noise_mode": "shrec2020", "detector.snr": 0.004, "optics.ctf_decay_nyquist": 0.4},
}


def _scene(preset: str, overrides=None):
    cfg = load_config(preset, overrides=overrides)
    t = time.perf_counter()
    lib = build_library(cfg.structures)
    scene = build_scene(lib, cfg.scene, tomo_streams(cfg.dataset.seed, 0)[0])
    print(f"library + scene: {time.perf_counter() - t:.1f} s, {len(scene.particles)} objects", flush=True)
    return cfg, scene


def oracle_z(scene, rec: np.ndarray, nf: np.ndarray, rng: np.random.Generator) -> dict[str, list[float]]:
    """Per class the z-scores of each particle's own noise-free template at its true position."""
    out: dict[str, list[float]] = {}
    for _, p in scene.particles.iterrows():
        box = (slice(int(p.bbox_z0), int(p.bbox_z1)), slice(int(p.bbox_y0), int(p.bbox_y1)),
               slice(int(p.bbox_x0), int(p.bbox_x1)))
        mask = scene.occupancy[box] == p.id
        if p["kind"] not in ("particle", "protein") or mask.sum() < 8:
            continue
        tpl = np.where(mask, nf[box] - nf[box][mask].mean(), 0.0)

        def score(offset, box=box, tpl=tpl, mask=mask):     # bound now: the loop rebinds them
            x = rec[tuple(slice(b.start + o, b.stop + o) for b, o in zip(box, offset))]
            return float((tpl * np.where(mask, x - x[mask].mean(), 0.0)).sum())

        bg = np.array([score([int(rng.integers(-b.start, n - b.stop + 1)) for b, n in zip(box, rec.shape)])
                       for _ in range(60)])
        out.setdefault(p["class"], []).append((score((0, 0, 0)) - bg.mean()) / bg.std())
    return out


def detect(preset: str, settings: dict) -> None:
    cfg, scene = _scene(preset)
    mass = {r.class_name: r.mass_kda for r in scene.classes.table.itertuples() if hasattr(r, "mass_kda")}
    for name, update in settings.items():
        p = cfg.imaging.model_copy(deep=True)
        p.progress, p.reconstruction.noise_free = False, True
        for key, value in update.items():
            section, field = key.split(".")
            setattr(getattr(p, section), field, value)
        t = time.perf_counter()
        r = image_sample(scene.grandmodel, scene.voxel_size_a, p, np.random.default_rng(1))
        a = r.acquisition
        print(f"== {name}: imaging {time.perf_counter() - t:.1f} s, SNR {a.snr_measured:.4g}, dose "
              f"{a.dose_total_e_per_a2:.4g}, equivalent dose {a.equivalent_dose_total_e_per_a2:.4g} e/Å²")
        z = oracle_z(scene, r.reconstruction, r.noise_free_reconstruction, np.random.default_rng(0))
        for cls in sorted(z, key=lambda c: -(mass.get(c) or 0)):
            v = np.array(z[cls])
            print(f"   {cls:28s} {mass.get(cls, float('nan')):7.0f} kDa  median z {np.median(v):6.2f}  "
                  f"z>3 {np.mean(v > 3):.2f}  n={len(v)}", flush=True)


def fast_vs_multislice() -> None:
    cfg, scene = _scene("shrec2020", {"scene": {"shape_xyz": [128, 128, 200]}})
    out = {}
    for name, update in {"multislice 5 nm": {"mode": "multislice"},
                         "fast 5 nm": {"mode": "fast", "slab_thickness_nm": 5.0},
                         "fast 50 nm": {"mode": "fast", "slab_thickness_nm": 50.0}}.items():
        p = cfg.imaging.model_copy(deep=True)
        p.progress, p.detector.noise_mode, p.detector.structural_noise_rel = False, "none", 0.0
        p.acquisition.tilt_min_deg, p.acquisition.tilt_max_deg, p.acquisition.tilt_step_deg = 0.0, 60.0, 30.0
        for key, value in update.items():
            setattr(p.projection, key, value)
        t = time.perf_counter()
        out[name] = image_sample(scene.grandmodel, scene.voxel_size_a, p, np.random.default_rng(0)).projections
        print(f"{name}: {time.perf_counter() - t:.1f} s", flush=True)
    ref = out["multislice 5 nm"]
    for name in ("fast 5 nm", "fast 50 nm"):
        for i, angle in enumerate((0, 30, 60)):
            x, y = out[name][i] - out[name][i].mean(), ref[i] - ref[i].mean()
            print(f"{name} vs multislice at {angle:2d}°: correlation {np.corrcoef(x.ravel(), y.ravel())[0, 1]:.4f}, "
                  f"rms difference / rms contrast {np.sqrt(((x - y) ** 2).mean() / (y ** 2).mean()):.3f}")


def picture(out: str) -> None:
    """Central xy slice of tomo_000 of the default preset under each noise model, side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, scene = _scene("default")
    settings = {"none": {"detector.noise_mode": "none"}, **{k: v for k, v in DEFAULT_SETTINGS.items()
                                                             if k != "dose 30 e/A2"}}
    fig, axes = plt.subplots(1, len(settings), figsize=(3.2 * len(settings), 3.9))
    for ax, (name, update) in zip(axes, settings.items()):
        p = cfg.imaging.model_copy(deep=True)
        p.progress = False
        for key, value in update.items():
            section, field = key.split(".")
            setattr(getattr(p, section), field, value)
        r = image_sample(scene.grandmodel, scene.voxel_size_a, p, np.random.default_rng(1))
        img = r.reconstruction[r.reconstruction.shape[0] // 2]
        lo, hi = np.percentile(img, [1, 99])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, origin="lower")
        snr = r.acquisition.snr_measured
        ax.set_title(f"{name}\nSNR {snr:.3g}" if snr else name, fontsize=9)
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.savefig(out, dpi=70)
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["detect", "fast-vs-multislice", "picture"])
    ap.add_argument("--out", default="docs/microscope_noise_models.png")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--settings", default=None, help="JSON {name: {section.key: value}}")
    args = ap.parse_args()
    if args.what == "detect":
        detect(args.preset, json.loads(args.settings) if args.settings else DEFAULT_SETTINGS)
    elif args.what == "picture":
        picture(args.out)
    else:
        fast_vs_multislice()


if __name__ == "__main__":
    main()
