"""Shared helpers of the microscope tests."""

import numpy as np


def gaussian_blob(shape, centre_zyx, denominator: float) -> np.ndarray:
    """``exp(-|r - centre|^2 / denominator)`` on the voxel grid ``[z, y, x]`` (float32 coordinates).

    ``denominator`` is ``2 sigma^2``; the dtype follows numpy's promotion of the centre's type
    (float32 for Python numbers).
    """
    z, y, x = np.mgrid[:shape[0], :shape[1], :shape[2]].astype(np.float32)
    cz, cy, cx = centre_zyx
    return np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) / denominator)
