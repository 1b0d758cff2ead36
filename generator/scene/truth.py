"""Ground-truth files of one tomogram (docs/conventions.md): ``write_ground_truth(scene, out_dir)``.

``grandmodel.mrc`` (float32), ``class_mask.mrc`` and ``occupancy_mask.mrc``
(the smallest MRC label dtype: uint8/uint16, float32 beyond 65,535 ids),
``particle_locations.txt`` (SHREC: ``class x y z phi theta psi``, integer
centres, line i = occupancy id i), ``particles.parquet`` (every column of
:data:`generator.scene.build.PARTICLE_COLUMNS`), ``classes.csv`` (own copy),
``scene_report.json`` (what was asked and placed) and ``ground_truth.png``
(central XY and XZ slices of grandmodel, class mask and occupancy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from generator.scene.build import Scene
from tomobench.classes import write_classes
from tomobench.groundtruth import (
    CLASS_MASK,
    CLASSES_CSV,
    GRANDMODEL,
    OCCUPANCY_MASK,
    PARTICLE_LOCATIONS,
    PARTICLES_PARQUET,
)
from tomobench.particles import make_particles, write_particles
from tomobench.volumes import label_dtype, write_volume

PNG = "ground_truth.png"
REPORT = "scene_report.json"


def write_ground_truth(scene: Scene, out_dir: str | Path) -> None:
    """Write every ground-truth file of ``scene`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    v = scene.voxel_size_a
    write_volume(out / GRANDMODEL, scene.grandmodel.astype(np.float32, copy=False), v)
    max_label = int(scene.classes.table["label"].max()) if len(scene.classes.table) else 0
    write_volume(out / CLASS_MASK, scene.class_mask.astype(label_dtype(max_label), copy=False), v)
    write_volume(out / OCCUPANCY_MASK, scene.occupancy.astype(label_dtype(len(scene.particles)), copy=False), v)
    df = scene.particles
    picks = make_particles(df["class"], df[["x", "y", "z"]].to_numpy(float),
                           df[["phi", "theta", "psi"]].to_numpy(float).round(4))
    write_particles(picks, out / PARTICLE_LOCATIONS, "shrec")      # no particles: an empty file
    df.to_parquet(out / PARTICLES_PARQUET, index=False)
    write_classes(scene.classes, out / CLASSES_CSV)
    (out / REPORT).write_text(scene.report.to_json(), encoding="utf-8")
    save_png(scene, out / PNG)


def save_png(scene: Scene, path: str | Path) -> Path:
    """Central XY (top) and XZ (bottom) slices of grandmodel, class mask and occupancy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nz, ny, nx = scene.grandmodel.shape
    rng = np.random.default_rng(0)
    n_ids = int(scene.occupancy.max()) + 1
    colours = np.vstack([[0, 0, 0], rng.uniform(0.2, 1.0, (max(n_ids - 1, 1), 3))])
    n_labels = int(scene.class_mask.max()) + 1
    label_colours = np.vstack([[0, 0, 0], plt.get_cmap("tab20")(np.arange(max(n_labels - 1, 1)) % 20)[:, :3]])
    vmax = float(np.percentile(scene.grandmodel[nz // 2], 99.9)) or 1.0
    fig, axes = plt.subplots(2, 3, figsize=(12, 4 + 8 * nz / ny), gridspec_kw={"height_ratios": [ny, nz]})
    for row, cut in enumerate(((nz // 2, slice(None), slice(None)), (slice(None), ny // 2, slice(None)))):
        g, c, o = scene.grandmodel[cut], scene.class_mask[cut], scene.occupancy[cut]
        axes[row, 0].imshow(g, cmap="gray_r", origin="lower", vmin=0, vmax=vmax)
        axes[row, 1].imshow(label_colours[c.astype(np.int64)], origin="lower", interpolation="nearest")
        axes[row, 2].imshow(colours[o.astype(np.int64) % len(colours)], origin="lower", interpolation="nearest")
        axes[row, 0].set_ylabel("XY (z = %d)" % (nz // 2) if row == 0 else "XZ (y = %d)" % (ny // 2))
    for ax, title in zip(axes[0], ("grandmodel", "class mask", "occupancy")):
        ax.set_title(title)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return Path(path)
