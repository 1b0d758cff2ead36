"""Pictures of a library.

A grid of central slices and a shaded surface view per class, and the bar chart of the
multi-ball volume comparison.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from generator.structures.library import StructureLibrary  # noqa: E402


def surface_view(volume: np.ndarray, level: float) -> np.ndarray:
    """Depth-shaded view down z of the body ``volume > level`` (1 near the viewer, 0 = nothing)."""
    body = volume > level
    hit = body.any(axis=0)
    depth = np.argmax(body, axis=0).astype(float)
    shade = 1.0 - 0.8 * depth / max(volume.shape[0] - 1, 1)
    gy, gx = np.gradient(np.where(hit, depth, depth.max() if hit.any() else 0.0))
    light = 1.0 / np.sqrt(1.0 + gx ** 2 + gy ** 2)          # facing the viewer = bright
    return np.where(hit, shade * (0.4 + 0.6 * light), 0.0)


def library_picture(library: StructureLibrary, level_v: float, path: str | Path) -> Path:
    """PNG grid: per class (one row) the central z, y, x slices and the surface view at ``level_v``."""
    names = [n for n in library.classes.names if n in library.templates]
    fig, axes = plt.subplots(len(names), 4, figsize=(8, 2.1 * max(len(names), 1)), squeeze=False)
    table = library.classes.table.set_index("class_name")
    for row, name in zip(axes, names):
        vol = library.templates[name]
        c = [s // 2 for s in vol.shape]
        vmax = float(vol.max()) or 1.0
        for ax, img, title in zip(row, (vol[c[0]], vol[:, c[1]], vol[:, :, c[2]], surface_view(vol, level_v)),
                                  ("z slice (y, x)", "y slice (z, x)", "x slice (z, y)", "surface from +z")):
            ax.imshow(img, cmap="gray", origin="lower", vmin=0 if title.startswith("surface") else None,
                      vmax=1.0 if title.startswith("surface") else vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if row is axes[0]:
                ax.set_title(title, fontsize=8)
        info = table.loc[name]
        row[0].set_ylabel(f"{name}\n{info['mass_kda']:.0f} kDa, Ψ={info['sphericity']:.2f}", fontsize=7)
    fig.suptitle(f"structure library ({library.voxel_size_a:g} Å/voxel; potential in V; surface at {level_v:.2f} V)",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / max(len(names), 1)))
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def ball_chart(report: pd.DataFrame, path: str | Path) -> Path:
    """Grouped bars: isosurface, multi-ball and single-ball volume per class (nm³, log scale)."""
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(report)), 4))
    x = np.arange(len(report))
    for i, (col, label) in enumerate((("isosurface_nm3", "isosurface"), ("multi_ball_nm3", "multi-ball"),
                                      ("single_ball_nm3", "single ball"))):
        ax.bar(x + (i - 1) * 0.27, report[col], width=0.27, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(report["class_name"], rotation=45, ha="right", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("volume (nm³)")
    ax.set_title("Volume of the isosurface, the multi-ball model and the single bounding ball")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
