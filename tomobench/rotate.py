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

    Parameters
    ----------
    volume : numpy.ndarray
        ``(Z, Y, X)`` the volume to rotate (any real dtype; computed in float32).
    matrix_xyz : numpy.ndarray
        ``(3, 3)`` rotation acting on ``(x, y, z)`` column vectors (:mod:`tomobench.euler`).
    order : int
        Spline order of the interpolation, 0 to 5 (0 nearest, 1 linear, 3 cubic).
    output_shape : tuple of int, optional
        ``(Z', Y', X')`` shape of the output box, centred on the input's centre; ``volume.shape`` when None.

    Returns
    -------
    numpy.ndarray
        ``(Z', Y', X')`` float32, the rotated volume.
    """
    volume = np.asarray(volume, dtype=np.float32)
    out_shape = tuple(volume.shape) if output_shape is None else tuple(output_shape)
    inverse = zyx_matrix(np.asarray(matrix_xyz).T)
    out_centre = box_centre(out_shape)
    offset = box_centre(volume.shape) - inverse @ out_centre
    return ndimage.affine_transform(volume, inverse, offset=offset, output_shape=out_shape,
                                    order=order, mode="constant", cval=0.0, prefilter=order > 1)
