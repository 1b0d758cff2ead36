"""Simulation throughput: serial vs a local Dask cluster, and whether both write identical files.

    python benchmarks/bench_dvc.py [--preset tiny] [--n-tomos 4] [--workers 2]

Prints the wall time of each run, tomograms per minute and the identity check.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def simulate(preset: str, n: int, out: Path, library: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tomobench", "simulate", "--preset", preset, "--n-tomos", str(n),
                    "--library", str(library), "--out", str(out), "--workers", str(workers), "--no-progress"],
                   cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--n-tomos", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tomobench", "structures", "--params",
                        str(ROOT / "params" / f"{args.preset}.yaml") if args.preset != "default"
                        else str(ROOT / "params.yaml"), "--out", str(tmp / "lib")],
                       cwd=ROOT, check=True, capture_output=True)
        print(f"structure library: {time.perf_counter() - start:.1f} s")
        serial = simulate(args.preset, args.n_tomos, tmp / "serial", tmp / "lib", 0)
        parallel = simulate(args.preset, args.n_tomos, tmp / "dask", tmp / "lib", args.workers)
        a, b = digests(tmp / "serial"), digests(tmp / "dask")
        same = a == b
        if not same:
            print("differing files:", sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))
    print(f"preset {args.preset}, {args.n_tomos} tomograms")
    print(f"serial:            {serial:7.1f} s  ({60 * args.n_tomos / serial:.2f} tomograms/min)")
    print(f"dask, {args.workers} workers:   {parallel:7.1f} s  ({60 * args.n_tomos / parallel:.2f} tomograms/min, "
          f"speed-up {serial / parallel:.2f}, cluster start-up included)")
    print(f"identical files:   {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
