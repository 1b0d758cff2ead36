"""A small worked example of scoring: a 64^3 sphere truth and a noisy submission.

Writes ``out/example/truth`` and ``out/example/submission.csv``, then runs
``tomobench score`` on them. Used by ``make run`` until the pipeline exists.
"""

from pathlib import Path

import numpy as np

from tomobench.classes import ClassTable
from tomobench.cli import main
from tomobench.particles import make_particles, write_particles
from tomobench.testing import write_sphere_truth

rng = np.random.default_rng(7)
out = Path("out/example")
table = ClassTable.from_records([{"class_name": "small_globule", "label": 1, "mass_kda": 120, "radius_nm": 3},
                                 {"class_name": "ring", "label": 2, "mass_kda": 450, "radius_nm": 5},
                                 {"class_name": "barrel", "label": 3, "mass_kda": 900, "radius_nm": 7}])
grid = [(x, y, z) for x in range(8, 60, 14) for y in range(8, 60, 14) for z in range(8, 60, 14)]
classes = list(rng.choice(table.names, len(grid)))
write_sphere_truth(out / "truth", classes, grid, [3] * len(grid), shape_zyx=(64, 64, 64), class_table=table)
found = rng.random(len(grid)) < 0.8
wrong = rng.random(len(grid)) < 0.2
picked = [rng.choice(table.names) if w else c for c, w in zip(classes, wrong)]
xyz = np.array(grid, float)[found] + rng.normal(0, 0.8, (found.sum(), 3))
false = rng.uniform(0, 63, (6, 3))
sub = make_particles([p for p, f in zip(picked, found) if f] + ["small_globule"] * 6, np.vstack([xyz, false]))
write_particles(sub, out / "submission.csv")
raise SystemExit(main(["score", str(out / "submission.csv"), "--truth", str(out / "truth"),
                       "--out", str(out / "report.json")]))
