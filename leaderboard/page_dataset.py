"""The Dataset page: the dataset card, counts per class, central slices of a training tomogram, dvc commands.

Only the public dataset (``public_dir``) is read here; the private test truth never is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from leaderboard.config import LeaderboardParams
from leaderboard.store import Store
from tomobench.classes import read_classes
from tomobench.errors import InputError
from tomobench.groundtruth import CLASS_MASK, OCCUPANCY_MASK, PARTICLE_LOCATIONS, RECONSTRUCTION
from tomobench.particles import read_particles
from tomobench.view import PREVIEW_PNG
from tomobench.volumes import read_volume


def dvc_commands(params: LeaderboardParams) -> str:
    """The shell commands that fetch the public dataset of this version (``dvc get`` and ``dvc import``).

    Parameters
    ----------
    params : LeaderboardParams
        The leaderboard's parameters: ``dataset`` (version), ``rev`` (git revision) and ``repo_url``.

    Returns
    -------
    str
        Two commented commands, one per line pair.
    """
    out = f"tomobench-{params.dataset}"
    return (f"# a copy of the public dataset, version {params.dataset} (git revision {params.rev})\n"
            f"dvc get {params.repo_url} data/public -o {out} --rev {params.rev}\n"
            f"# or, inside your own DVC project, tracked to that version (update with `dvc update`)\n"
            f"dvc import {params.repo_url} data/public -o {out} --rev {params.rev}")


@st.cache_data(show_spinner=False, max_entries=32)
def class_counts(train_dir: str, stamp: float) -> pd.DataFrame:
    """Particles per class and training tomogram (``stamp`` invalidates the cache when files change)."""
    rows = []
    for folder in sorted(Path(train_dir).iterdir()):
        if (folder / PARTICLE_LOCATIONS).is_file():
            picks = read_particles(folder / PARTICLE_LOCATIONS, "shrec")
            for name, n in picks["class"].value_counts().items():
                rows.append({"tomogram": folder.name, "class": name, "particles": int(n)})
    return pd.DataFrame(rows, columns=["tomogram", "class", "particles"])


def _grey(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [1, 99])
    return (np.clip((image - lo) / ((hi - lo) or 1.0), 0, 1) * 255).astype(np.uint8)


def _labels(image: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    ids = image.astype(np.int64)
    rgb = (cmap((ids % 20) / 19.0)[..., :3] * 255).astype(np.uint8)
    rgb[ids == 0] = 0
    return rgb


@st.cache_data(show_spinner=False, max_entries=16)
def central_slices(folder: str, stamp: float) -> dict[str, np.ndarray]:
    """The central z slice of a tomogram folder's reconstruction and masks, ready to show.

    Parameters
    ----------
    folder : str
        A tomogram folder; files missing from it are left out.
    stamp : float
        The folder's modification time (s); a change invalidates the cache.

    Returns
    -------
    dict of str to numpy.ndarray
        File name -> uint8 image: the reconstruction grey (1-99 percentile stretch), shape (y, x);
        the masks coloured by label, shape (y, x, 3), background black.
    """
    images = {}
    for name, fn in ((RECONSTRUCTION, _grey), (CLASS_MASK, _labels), (OCCUPANCY_MASK, _labels)):
        path = Path(folder) / name
        if path.is_file():
            volume, _ = read_volume(path, mmap=True)
            images[name] = fn(np.asarray(volume[volume.shape[0] // 2], dtype=np.float32))
    return images


def _stamp(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def render(params: LeaderboardParams, store: Store) -> None:
    """Draw the Dataset page.

    Parameters
    ----------
    params : LeaderboardParams
        The leaderboard's parameters (dataset version, folders, limits).
    store : Store
        The submissions store the page reads.
    """
    st.title(f"Dataset {params.dataset}")
    public = Path(params.public_dir)
    card = public / "README.md"
    if card.is_file():
        with st.expander("Dataset card", expanded=True):
            st.markdown(card.read_text(encoding="utf-8"))
    else:
        st.info("No dataset card yet (data/public/README.md is written by the DVC pipeline).")
    st.subheader("Download")
    st.code(dvc_commands(params), language="bash")

    st.subheader("Classes")
    try:
        classes = read_classes(public / "classes.csv").table if (public / "classes.csv").is_file() else None
    except InputError as exc:
        st.error(str(exc))
        classes = None
    train = public / "train"
    counts = class_counts(str(train), _stamp(train)) if train.is_dir() else pd.DataFrame()
    if classes is not None:
        table = classes[["class_name", "label", "pdb_id", "mass_kda", "size_group", "kind", "scored"]]
        if not counts.empty:
            per_class = counts.groupby("class")["particles"].sum().rename("train particles")
            table = table.merge(per_class, left_on="class_name", right_index=True, how="left")
            table["train particles"] = table["train particles"].fillna(0).astype(int)
        st.dataframe(table, hide_index=True, key="classes_table")
    if not counts.empty:
        st.bar_chart(counts.pivot_table(index="class", columns="tomogram", values="particles", fill_value=0))

    preview = public / PREVIEW_PNG
    if preview.is_file():
        st.subheader("A training tomogram with its particles")
        st.image(str(preview), caption="slices where most particles are, true particles drawn per class "
                 "(`tomobench view` opens the tomogram in napari)")

    st.subheader("A training tomogram: central slices")
    tomos = sorted(p.name for p in train.iterdir() if p.is_dir()) if train.is_dir() else []
    if not tomos:
        st.info("No training tomogram in the public dataset.")
        return
    tomo = st.selectbox("Tomogram", tomos, key="slice_tomo")
    images = central_slices(str(train / tomo), _stamp(train / tomo))
    cols = st.columns(max(1, len(images)))
    titles = {RECONSTRUCTION: "reconstruction", CLASS_MASK: "class mask", OCCUPANCY_MASK: "occupancy mask"}
    for col, (name, image) in zip(cols, images.items()):
        col.image(image, caption=f"{titles[name]} (central z slice)", width="stretch", clamp=True)
