"""Volumes on disk: MRC files with the voxel size in Å in the header.

In memory a volume is a numpy array indexed ``[z, y, x]``. Density maps are
float32; label maps (class masks, occupancy maps) are integers. MRC has no
32-bit integer mode, so :func:`label_dtype` picks uint8, uint16 or, beyond
65,535 labels, float32 (exact for integers up to 2**24).
"""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np

from tomobench.errors import InputError


def read_volume(path: str | Path, *, mmap: bool = False) -> tuple[np.ndarray, float]:
    """Read an MRC file.

    Parameters
    ----------
    path : str or Path
        The MRC file (a 3D volume or image stack).
    mmap : bool
        Return a read-only memory map instead of a copy in memory.

    Returns
    -------
    data : numpy.ndarray
        (Z, Y, X) in the file's dtype (``[z, y, x]`` indexing).
    voxel_size_a : float
        The header's x spacing in Å per voxel (0.0 when the header has none).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found; check the path", path)
    try:
        if mmap:
            mrc = mrcfile.mmap(path, mode="r", permissive=False)
            data, voxel_size_a = mrc.data, float(mrc.voxel_size.x)
        else:
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                data, voxel_size_a = mrc.data.copy(), float(mrc.voxel_size.x)
    except (ValueError, OSError) as exc:
        raise InputError(f"not a readable MRC file ({exc})", path) from None
    if data is None or data.ndim != 3:
        raise InputError("expected a 3D volume", path)
    return data, voxel_size_a


def write_volume(path: str | Path, data: np.ndarray, voxel_size_a: float, *, image_stack: bool = False) -> Path:
    """Write a 3D array (``[z, y, x]``) as MRC with ``voxel_size_a`` (Å) in the header.

    ``image_stack=True`` marks the file as a stack of 2D images (MRC2014 space group
    ISPG 0, ``mz = 1``), as IMOD expects of a tilt series; the default is a volume (ISPG 1).

    Floating arrays are stored as float32; integer arrays must already have an
    MRC-compatible dtype (int8, int16, uint8, uint16; see :func:`label_dtype`).
    The file is written to a temporary name and renamed, so a crash never leaves
    a half-written volume under the final name.

    Parameters
    ----------
    path : str or Path
        The MRC file to write; its folder is created.
    data : numpy.ndarray
        (Z, Y, X) the volume, or (n_views, Y, X) an image stack.
    voxel_size_a : float
        Voxel (or pixel) size in Å, > 0.
    image_stack : bool
        Mark the file as a stack of 2D images (ISPG 0) instead of a volume.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"write_volume: expected a 3D array, got shape {data.shape}")
    if voxel_size_a <= 0:
        raise ValueError(f"write_volume: voxel_size_a must be > 0, got {voxel_size_a}")
    if np.issubdtype(data.dtype, np.floating) and data.dtype != np.float32:
        data = data.astype(np.float32)
    if data.dtype == bool:
        data = data.astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data))
        if image_stack:
            mrc.set_image_stack()
        mrc.voxel_size = float(voxel_size_a)
        # mrcfile stamps the creation time into label 0: a fixed label keeps files byte-identical
        # for identical data (reproducible datasets, DVC hashes).
        mrc.header.label[0] = b"Created by tomobench"
        mrc.header.nlabl = 1
    tmp.replace(path)
    return path


def label_dtype(max_label: int) -> np.dtype:
    """The smallest MRC-compatible dtype that holds labels ``0..max_label`` exactly."""
    if max_label < 0:
        raise ValueError("labels are non-negative")
    if max_label <= np.iinfo(np.uint8).max:
        return np.dtype(np.uint8)
    if max_label <= np.iinfo(np.uint16).max:
        return np.dtype(np.uint16)
    if max_label <= 2**24:
        return np.dtype(np.float32)
    raise ValueError(f"{max_label} labels do not fit an MRC file exactly")


def box_centre(shape: tuple[int, ...]) -> np.ndarray:
    """Index of the centre voxel of a box, ``n // 2`` per axis (the template convention).

    Parameters
    ----------
    shape : tuple of int
        The box shape, any number of axes (``[z, y, x]`` for a volume).

    Returns
    -------
    numpy.ndarray
        float, one index per axis, in the order of ``shape``.
    """
    return np.array([n // 2 for n in shape], dtype=float)


def crop(volume: np.ndarray, corner_zyx, size: int, *, fill: float = 0.0,
         dtype: np.dtype | type | None = None) -> np.ndarray:
    """The cube ``volume[corner : corner + size]`` (``[z, y, x]``), ``fill`` where it leaves the volume.

    ``corner_zyx`` may be negative or beyond the volume; the output always has
    shape ``(size, size, size)`` and ``dtype`` (default: the volume's). Pure numpy;
    the volume is not modified.

    Parameters
    ----------
    volume : numpy.ndarray
        (Z, Y, X) the volume.
    corner_zyx : array_like of int
        (3,) the cube's first voxel z, y, x (may lie outside the volume).
    size : int
        The cube's edge in voxels.
    fill : float
        The value where the cube leaves the volume.
    dtype : numpy.dtype or type, optional
        The output dtype; the volume's when None.

    Returns
    -------
    numpy.ndarray
        (size, size, size) the cube.
    """
    corner = np.asarray(corner_zyx, dtype=int).reshape(3)
    out = np.full((size,) * 3, fill, dtype=volume.dtype if dtype is None else dtype)
    lo = np.maximum(corner, 0)
    hi = np.minimum(corner + size, volume.shape)
    if np.any(hi <= lo):
        return out
    dst = lo - corner
    out[dst[0]:dst[0] + hi[0] - lo[0], dst[1]:dst[1] + hi[1] - lo[1], dst[2]:dst[2] + hi[2] - lo[2]] = \
        volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    return out
