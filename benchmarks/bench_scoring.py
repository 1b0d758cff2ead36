"""Scoring speed at SHREC 2020 scale (issue 2).

Builds a 512 x 512 x 200 occupancy mask with about 2,800 non-overlapping
spherical particles of 12 classes, writes it as a ground-truth folder, and
scores 3,000 picks (2,500 near particles, 500 on background). Prints the MRC
loading time and the scoring time separately.

    .venv/bin/python benchmarks/bench_scoring.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from scoring import score_particles
from scoring.api import load_truths
from tomobench.classes import ClassTable, write_classes
from tomobench.particles import make_particles, write_particles
from tomobench.volumes import write_volume

SHAPE_ZYX = (200, 512, 512)


def build_truth(folder: Path, rng: np.random.Generator, n_target: int = 2800) -> None:
    names = [f"class{i:02d}" for i in range(12)]
    table = ClassTable.from_records([{"class_name": n, "label": i + 1, "mass_kda": 50 + 180 * i,
                                      "radius_nm": 2 + i * 0.5} for i, n in enumerate(names)])
    occupancy = np.zeros(SHAPE_ZYX, dtype=np.uint16)
    centres, classes = [], []
    attempts = 0
    while len(centres) < n_target and attempts < 50 * n_target:
        attempts += 1
        k = rng.integers(12)
        r = 2 + k // 3
        c = rng.integers([r, r, r], np.array(SHAPE_ZYX[::-1]) - r)
        sl = tuple(slice(c[a] - r, c[a] + r + 1) for a in (2, 1, 0))
        zz, yy, xx = np.ogrid[-r:r + 1, -r:r + 1, -r:r + 1]
        ball = xx ** 2 + yy ** 2 + zz ** 2 <= r * r
        if occupancy[sl][ball].any():
            continue
        occupancy[sl][ball] = len(centres) + 1
        centres.append(c)
        classes.append(names[k])
    write_volume(folder / "occupancy_mask.mrc", occupancy, 10.0)
    write_classes(table, folder / "classes.csv")
    write_particles(make_particles(classes, np.array(centres)), folder / "particle_locations.txt", "shrec")


def main() -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tomo"
        folder.mkdir()
        build_truth(folder, rng)
        t0 = time.perf_counter()
        truths = load_truths(folder)
        t_load = time.perf_counter() - t0
        particles = truths["tomo"].particles
        near = particles.sample(2500, random_state=1)
        xyz = np.vstack([near[["x", "y", "z"]].to_numpy() + rng.integers(-1, 2, (2500, 3)),
                         rng.uniform(0, 1, (500, 3)) * np.array(SHAPE_ZYX[::-1])])
        picks = make_particles(list(near["class"]) + ["class00"] * 500, xyz)
        score_particles(picks, truths)                       # warm-up (imports, caches)
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            report = score_particles(picks, truths)
            times.append(time.perf_counter() - t0)
    print(f"truth: {len(particles)} particles in a {SHAPE_ZYX[2]}x{SHAPE_ZYX[1]}x{SHAPE_ZYX[0]} mask (x*y*z)")
    print(f"loading the ground truth (MRC + particle list): {t_load:.3f} s")
    print(f"scoring {len(picks)} picks: median {np.median(times):.3f} s, best {min(times):.3f} s "
          f"(5 runs; target < 1 s)")
    print(f"sanity: TP={report['TP']} FP={report['FP']} F1={report['f1']:.3f}")


if __name__ == "__main__":
    main()
