"""Rotating volumes with the tomobench convention (:mod:`tomobench.euler`)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tomobench.euler import zyx_matrix
from tomobench.volumes import box_centre


def rotate_volume(volume: np.ndarray, matrix_xyz: np.ndarray, *, order: int = 3,
                  output_shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Rotate ``volume`` (``[z, y, x]``) by ``matrix_xyz`` about its centre voxel (``n // 2``).

    The output voxel at ``r`` (relative to the output centre) takes the input
    value at ``R.T @ r``: the content is turned by ``R``, as a particle is made
    from its template. Cubic spline interpolation by default (sub-voxel accurate);
    values outside the box are 0.
    """
    volume = np.asarray(volume, dtype=np.float32)
    out_shape = tuple(volume.shape) if output_shape is None else tuple(output_shape)
    inverse = zyx_matrix(np.asarray(matrix_xyz).T)
    out_centre = box_centre(out_shape)
    offset = box_centre(volume.shape) - inverse @ out_centre
    return ndimage.affine_transform(volume, inverse, offset=offset, output_shape=out_shape,
                                    order=order, mode="constant", cval=0.0, prefilter=order > 1)
