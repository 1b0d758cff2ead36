"""Looking at a tomogram with its picks: a static PNG of slices, or napari.

:func:`write_slices_png` draws an xy and an xz slice of a tomogram (``[z, y, x]``)
with the picks that lie within ``slab_vox`` voxels of each slice as circles, one
colour per class. The slices are where most picks are (ties: nearest the centre),
so that a sparse list still shows. :func:`open_napari` shows the whole volume with
the picks as a points layer; napari is an optional extra
(``pip install "tomobench[view]"``), imported only there.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from tomobench.errors import InputError

DEFAULT_SLAB_VOX = 4.0
DEFAULT_RADIUS_VOX = 5.0
PREVIEW_PNG = "preview.png"


def busiest_slice(coords: np.ndarray, n: int, slab_vox: float) -> int:
    """The index in ``0..n-1`` with the most coordinates within ``slab_vox`` (ties: nearest ``n // 2``).

    Parameters
    ----------
    coords : numpy.ndarray
        (N,) coordinates along one axis, in voxels.
    n : int
        The number of slices along that axis.
    slab_vox : float
        Half-thickness in voxels of the slab counted around each slice (inclusive).

    Returns
    -------
    int
        The slice index; ``n // 2`` when there are no coordinates.
    """
    index = np.arange(n)
    if len(coords) == 0:
        return n // 2
    counts = (np.abs(index[:, None] - np.asarray(coords, dtype=float)[None, :]) <= slab_vox).sum(axis=1)
    best = np.flatnonzero(counts == counts.max())
    return int(best[np.argmin(np.abs(best - n // 2))])


def class_colours(classes: list[str]) -> dict[str, tuple[float, ...]]:
    """A fixed RGBA colour (4 floats in [0, 1]) per class (matplotlib's tab10/tab20 in the order given)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    return {c: tuple(float(v) for v in cmap(i % cmap.N)) for i, c in enumerate(classes)}


def slice_picks(picks: pd.DataFrame, axis: str, index: int, slab_vox: float) -> pd.DataFrame:
    """The picks within ``slab_vox`` of slice ``index`` along ``axis`` (``"z"`` for xy, ``"y"`` for xz)."""
    return picks[np.abs(picks[axis].to_numpy(float) - index) <= slab_vox]


def _contrast(image: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(image, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1)


def _draw_panel(ax, image: np.ndarray, near: pd.DataFrame, uv: tuple[str, str], colours: dict,
                radius_vox: float | dict[str, float]) -> None:
    """One slice with its picks as circles in data units (voxels), so that their size is the particle's."""
    from matplotlib.collections import EllipseCollection

    lo, hi = _contrast(image)
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, origin="lower", interpolation="nearest")
    for name, colour in colours.items():
        group = near[near["class"] == name]
        radius = radius_vox.get(name, DEFAULT_RADIUS_VOX) if isinstance(radius_vox, dict) else radius_vox
        diameters = np.full(len(group), 2 * radius)
        ax.add_collection(EllipseCollection(diameters, diameters, np.zeros(len(group)), units="xy",
                                            offsets=group[list(uv)].to_numpy(float), offset_transform=ax.transData,
                                            facecolors="none", edgecolors=[colour], linewidths=1.2))
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(-0.5, image.shape[0] - 0.5)
    ax.set_xticks([])
    ax.set_yticks([])


def write_slices_png(volume: np.ndarray, picks: pd.DataFrame | None, path: str | Path, *, title: str = "",
                     class_order: list[str] | None = None, slab_vox: float = DEFAULT_SLAB_VOX,
                     radius_vox: float | dict[str, float] = 5.0, dpi: int = 80) -> Path:
    """Write a PNG of an xy and an xz slice of ``volume`` with ``picks`` drawn.

    The slices are the busiest ones (:func:`busiest_slice`). Same inputs give the same bytes.

    Parameters
    ----------
    volume : numpy.ndarray
        (Z, Y, X) the tomogram (any real dtype; a memory map is fine).
    picks : pandas.DataFrame or None
        A particle list (``class x y z``, voxels of this tomogram) or None.
    path : str or Path
        The PNG to write; its folder is created.
    title : str
        The figure title.
    class_order : list of str, optional
        The order of the colours and of the legend; other classes follow, sorted.
    slab_vox : float
        Picks within this many voxels of a slice are drawn on it.
    radius_vox : float or dict of str to float
        The circles' radius in voxels, one for all or per class (others get the default of 5).
    dpi : int
        Resolution of the PNG in dots per inch.

    Returns
    -------
    Path
        ``path``.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = picks if picks is not None else pd.DataFrame(columns=["class", "x", "y", "z"])
    nz, ny, nx = volume.shape
    z = busiest_slice(picks["z"].to_numpy(float), nz, slab_vox)
    y = busiest_slice(picks["y"].to_numpy(float), ny, slab_vox)
    order = list(class_order or []) + sorted(set(picks["class"]) - set(class_order or []))
    colours = class_colours([c for c in order if (picks["class"] == c).any()])
    panels = [(f"xy slice z = {z}", np.asarray(volume[z], dtype=np.float32), "z", z, "x", "y"),
              (f"xz slice y = {y}", np.asarray(volume[:, y, :], dtype=np.float32), "y", y, "x", "z")]
    heights = [ny, nz]
    width_in = 6.0              # axes as wide as the figure: cell heights then match the images' aspect
    fig, axes = plt.subplots(2, 1, figsize=(width_in, width_in * sum(heights) / nx + 0.9),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (label, image, axis, index, u, v) in zip(axes[:, 0], panels):
        _draw_panel(ax, image, slice_picks(picks, axis, index, slab_vox), (u, v), colours, radius_vox)
        ax.set_title(f"{label} (picks within ±{slab_vox:g} voxels)", fontsize=9)
    if colours:
        from matplotlib.lines import Line2D
        handles = [Line2D([], [], ls="", marker="o", mfc="none", mec=colour,
                          label=f"{name} ({int((picks['class'] == name).sum())} in all)")
                   for name, colour in colours.items()]
        axes[-1, 0].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize=8,
                           ncol=2, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(path, dpi=dpi, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return path


def class_radii_vox(classes, voxel_size_a: float | None) -> dict[str, float]:
    """Circle radius per class in voxels: the class table's ``radius_nm`` at ``voxel_size_a`` Å per voxel."""
    if classes is None or not voxel_size_a or voxel_size_a <= 0:
        return {}
    return {name: float(r) * 10.0 / voxel_size_a for name, r in zip(classes.names, classes.table["radius_nm"])
            if np.isfinite(r) and r > 0}


def napari_layers(volume: np.ndarray, picks: pd.DataFrame | None, voxel_size_a: float = 1.0,
                  class_order: list[str] | None = None) -> list[tuple]:
    """Napari layer data ``(data, kwargs, layer type)``: the image and, if given, the picks (``z, y, x``)."""
    scale = (voxel_size_a or 1.0,) * 3
    layers: list[tuple] = [(volume, {"name": "tomogram", "colormap": "gray", "scale": scale}, "image")]
    if picks is not None and len(picks):
        order = list(class_order or []) + sorted(set(picks["class"]) - set(class_order or []))
        colours = class_colours([c for c in order if (picks["class"] == c).any()])
        points: dict[str, object] = {"name": "picks", "scale": scale, "size": 10,
                                     "border_color": [colours[c] for c in picks["class"]],
                                     "face_color": "transparent", "features": {"class": picks["class"].tolist()},
                                     # a pick shows on the slices its sphere cuts (with the thick slice
                                     # add_layers sets), as a disc of the cut's size
                                     "projection_mode": "rescale_spherical"}
        layers.append((picks[["z", "y", "x"]].to_numpy(float), points, "points"))
    return layers


def add_layers(viewer, volume: np.ndarray, picks: pd.DataFrame | None, voxel_size_a: float = 1.0,
               class_order: list[str] | None = None):
    """Add the layers of :func:`napari_layers` to a napari viewer (or a headless ``ViewerModel``)."""
    for data, kwargs, kind in napari_layers(volume, picks, voxel_size_a, class_order):
        layer = getattr(viewer, f"add_{kind}")(data, **kwargs)
        if kind == "points":             # the slice is as thick as a pick along z (world units: Å)
            half_a = 0.5 * layer.size.max() * (voxel_size_a or 1.0)
            viewer.dims.margin_left = (half_a,) + tuple(viewer.dims.margin_left[1:])
            viewer.dims.margin_right = (half_a,) + tuple(viewer.dims.margin_right[1:])
    return viewer


def open_napari(volume: np.ndarray, picks: pd.DataFrame | None, voxel_size_a: float = 1.0,
                class_order: list[str] | None = None, *, run: bool = True):
    """Open napari with the tomogram and the picks; returns the viewer (``run=False``: do not block)."""
    try:
        import napari
    except ImportError:
        raise InputError('the viewer needs napari, an optional extra: pip install "tomobench[view]" '
                         "(or write a picture with --png FILE)") from None
    viewer = add_layers(napari.Viewer(title="tomobench view"), volume, picks, voxel_size_a, class_order)
    if run:
        napari.run()
    return viewer
