"""The U-Net's convergence curve: held-out F1 against training steps, from a timing file.

    PYTHONPATH=$PWD python benchmarks/plot_learned_curve.py data/submissions/unet.timing.json \
        --png docs/learned_curve.png

``tomobench baseline unet`` writes ``val_f1_curve`` (step, held-out localization F1, held-out mean
per-class F1; thresholds tuned on the held-out tomogram at each validation, no test-time
augmentation) into ``<submission stem>.timing.json``. This prints the rows and draws both curves.
Several timing files (e.g. runs of different lengths) are drawn in one figure, labelled by file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)


def read_curve(path: Path) -> list[tuple[int, float, float]]:
    """``(step, localization F1, mean class F1)`` rows of a U-Net timing file."""
    rows = json.loads(path.read_text(encoding="utf-8")).get("val_f1_curve") or []
    return [(int(s), float(loc), float(cls)) for s, loc, cls in rows]


def main() -> None:
    """Command line (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("timing", nargs="+", type=Path)
    ap.add_argument("--png", type=Path, help="write the figure here")
    ap.add_argument("--label", action="append", help="one legend label per timing file")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for k, path in enumerate(args.timing):
        rows = read_curve(path)
        label = args.label[k] if args.label and k < len(args.label) else path.stem
        print(f"{label}: step, held-out localization F1, held-out mean class F1")
        for s, loc, cls in rows:
            print(f"  {s:6d}  {loc:.3f}  {cls:.3f}")
        if rows:
            steps = [r[0] for r in rows]
            ax.plot(steps, [r[1] for r in rows], "o-", label=f"{label}: localization F1")
            ax.plot(steps, [r[2] for r in rows], "s--", label=f"{label}: mean class F1")
    ax.set_xlabel("training step (batch of 4 patches of 32³)")
    ax.set_ylabel("held-out F1 (tuned thresholds)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    if args.png:
        fig.savefig(args.png, dpi=110)
        print(f"-> {args.png}")


if __name__ == "__main__":
    main()
