"""Scene benchmark: shrec2020 speed, crowded occupancy, compaction, single- vs multi-ball packing.

    PYTHONPATH=$PWD python benchmarks/bench_scene.py [--library DIR] [--crowd-shape 128x128x64] [--nt-max 1000]
        [--skip-preset]

Without ``--library`` it uses the synthetic SHREC-like library
(:func:`generator.scene.synthetic.shrec_like_library`: 12 ellipsoid-plus-lobe
classes sized like the SHREC 2020 classes), so the figures are about the
packer, not about the real structures. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from generator.scene import SceneParams, build_scene
from tomobench.presets import load_preset

PARAMS_FILE = Path(__file__).resolve().parents[1] / "params.yaml"


def preset(name: str, **override) -> SceneParams:
    """The scene section of preset ``name`` (params.yaml + params/<name>.yaml), top-level keys replaced."""
    data = dict(load_preset(name, PARAMS_FILE)[0]["scene"])
    data.update(override)
    return SceneParams(**data)


def run(library, params: SceneParams, seed: int = 0):
    t = time.perf_counter()
    scene = build_scene(library, params, np.random.default_rng(seed))
    wall = time.perf_counter() - t
    n = int((scene.particles["kind"] == "protein").sum())
    return wall, n, scene.report.model_dump()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", help="a structure library folder (default: synthetic SHREC-like)")
    ap.add_argument("--crowd-shape", default="128x128x64", help="volume of the crowded comparisons (x x y x z)")
    ap.add_argument("--nt-max", type=int, default=1000, help="largest N_t of the crowded runs")
    ap.add_argument("--skip-preset", action="store_true", help="skip the full crowded preset run (minutes)")
    args = ap.parse_args()
    if args.library:
        from generator.structures.library import load_library
        library, source = load_library(args.library), args.library
    else:
        from generator.scene.synthetic import shrec_like_library
        library, source = shrec_like_library(), "synthetic SHREC-like (12 classes)"
    print(f"library: {source}; cpu cores visible: {os.cpu_count()}")

    wall, n, rep = run(library, preset("shrec2020"))
    print(f"shrec2020 512x512x200: {wall:.1f} s, {n} particles placed "
          f"(requested {sum(rep['particles']['requested'].values())}), occupancy {rep['occupancy_protein']:.2%}, "
          f"trials {rep['particles']['trials']}")

    crowd = dict(shape_xyz=tuple(int(v) for v in args.crowd_shape.split("x")))
    if not args.skip_preset:
        crowded = preset("crowded")
        wall, n, rep = run(library, crowded)
        print(f"crowded preset {crowded.shape_xyz} ({crowded.packing_model}, N_t={crowded.max_failures}, "
              f"compaction {crowded.compaction.rounds} rounds): occupancy {rep['occupancy_protein']:.2%}, "
              f"{n} particles, {wall:.1f} s")
    print(f"crowded comparisons on {crowd['shape_xyz']} voxels (occupancy target 0.6, unreachable):")
    nts = [100] + ([args.nt_max] if args.nt_max != 100 else [])
    for model in ("singleball", "multiball", "voxel"):
        for nt in nts:
            if model == "voxel" and nt > 100:
                continue
            wall, n, rep = run(library, preset("crowded", packing_model=model, max_failures=nt,
                                               compaction=dict(enabled=False), **crowd))
            print(f"  {model:10s} N_t={nt:5d}: occupancy {rep['occupancy_protein']:.2%}, {n} particles, {wall:.1f} s")
    for model, relax in (("multiball", True), ("multiball", False), ("voxel", False)):
        wall, n, rep = run(library, preset("crowded", packing_model=model, max_failures=100,
                                           compaction=dict(enabled=True, rounds=2, relax=relax), **crowd))
        steps = ", ".join(f"{r['occupancy_after_compaction']:.2%}->{r['occupancy']:.2%} (dropped {r['dropped']})"
                          for r in rep["compaction"]["rounds"])
        how = "ball dynamics + settle" if relax else "settle only"
        print(f"  {model:10s} N_t=  100 + compaction ({how}): occupancy {rep['occupancy_protein']:.2%}, "
              f"{n} particles, {wall:.1f} s [rounds: {steps}]")

    wall, n, rep = run(library, preset("default"))
    print(f"default 256x256x100: {wall:.1f} s, {n} particles, occupancy {rep['occupancy_protein']:.2%}, "
          f"all objects {rep['occupancy_all']:.2%}, membranes {rep['membranes']['placed']}, "
          f"filaments {rep['filaments']['placed']}")


if __name__ == "__main__":
    main()
