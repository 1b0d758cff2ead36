"""The in-plane angle between the specimen frame and the detector: the tilt-axis angle.

The simulator forms every view in the *specimen frame*, where the tilt axis is
the y axis (``generator.microscope.geometry``), and the reconstruction and the
ground truth live in that frame. A real detector sees the tilt axis at some
angle ``tilt_axis_deg`` from its image y axis (IMOD's "tilt axis rotation":
counter-clockwise positive, x to the right and y up, i.e. rows of the array are
y). These functions carry images between the two frames:

- specimen -> detector: a specimen point ``(x, y)`` (from the centre) lands on
  the detector at ``(x cos a - y sin a, x sin a + y cos a)``, so the specimen's
  y axis (the tilt axis) is the detector direction ``(-sin a, cos a)``;
- detector -> specimen: the inverse rotation, back onto the specimen's grid.

The detector image is the bounding box of the rotated specimen field, so no
part of the specimen falls off the detector; pixels that see no specimen get
the image's mean. The turn is about the geometric centre ``(n - 1) / 2`` of each
image, so 90° steps map pixel grids onto pixel grids (where to put the detector
under the specimen is a free choice; the tilt geometry is untouched).
Interpolation is bilinear.
"""

from __future__ import annotations

import math

import torch


def detector_shape(specimen_yx: tuple[int, int], tilt_axis_deg: float) -> tuple[int, int]:
    """``(ny, nx)`` of the detector image that holds a specimen field ``specimen_yx`` rotated by ``tilt_axis_deg``.

    Parameters
    ----------
    specimen_yx : tuple of int
        ``(ny, nx)`` the specimen-frame view's shape in pixels.
    tilt_axis_deg : float
        The tilt axis' angle on the detector from its y axis, in degrees, counter-clockwise.

    Returns
    -------
    tuple of int
        ``(ny', nx')`` the detector image's shape in pixels.
    """
    ny, nx = specimen_yx
    a = math.radians(tilt_axis_deg)
    c, s = abs(math.cos(a)), abs(math.sin(a))
    # round away tiny float residues (cos 90° = 6e-17) before the ceiling
    return int(math.ceil(round(ny * c + nx * s, 6))), int(math.ceil(round(nx * c + ny * s, 6)))


def _source_xy(in_yx: tuple[int, int], out_yx: tuple[int, int], angle_deg: float,
               device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Input pixel coordinates ``(x, y)`` read by each output pixel of a rotation.

    The output is the input rotated counter-clockwise by ``angle_deg`` (each output pixel
    reads the point rotated by ``-angle``).
    """
    ny, nx = in_yx
    oy, ox = out_yx
    a = math.radians(angle_deg)
    cos, sin = math.cos(a), math.sin(a)
    v = torch.arange(oy, dtype=torch.float64, device=device)[:, None] - (oy - 1) / 2
    u = torch.arange(ox, dtype=torch.float64, device=device)[None, :] - (ox - 1) / 2
    return u * cos + v * sin + (nx - 1) / 2, -u * sin + v * cos + (ny - 1) / 2


def specimen_footprint(specimen_yx: tuple[int, int], tilt_axis_deg: float) -> torch.Tensor:
    """Boolean detector image (``detector_shape``): True where a pixel sees the specimen field.

    Parameters
    ----------
    specimen_yx : tuple of int
        ``(ny, nx)`` the specimen-frame view's shape in pixels.
    tilt_axis_deg : float
        The tilt axis' angle on the detector from its y axis, in degrees, counter-clockwise.

    Returns
    -------
    torch.Tensor
        (ny', nx') bool, on the CPU.
    """
    out_yx = detector_shape(specimen_yx, tilt_axis_deg)
    x_in, y_in = _source_xy(specimen_yx, out_yx, tilt_axis_deg)
    tol = 1e-6
    return ((x_in >= -tol) & (x_in <= specimen_yx[1] - 1 + tol)
            & (y_in >= -tol) & (y_in <= specimen_yx[0] - 1 + tol))


def _rotate(images: torch.Tensor, angle_deg: float, out_yx: tuple[int, int]) -> torch.Tensor:
    """Sample ``images`` ``[n, y, x]`` so that output = input rotated counter-clockwise by ``angle_deg``."""
    n, ny, nx = images.shape
    oy, ox = out_yx
    x_in, y_in = _source_xy((ny, nx), out_yx, angle_deg, images.device)
    # grid_sample with align_corners=True: pixel i sits at -1 + 2 i / (n - 1)
    gx = 2.0 * x_in / max(nx - 1, 1) - 1.0
    gy = 2.0 * y_in / max(ny - 1, 1) - 1.0
    grid = torch.stack([gx, gy], dim=-1).to(images.dtype)[None].expand(n, oy, ox, 2)
    fill = images.mean(dim=(-2, -1), keepdim=True)
    out = torch.nn.functional.grid_sample((images - fill)[:, None], grid, mode="bilinear",
                                          padding_mode="zeros", align_corners=True)[:, 0]
    return out + fill


def to_detector(images: torch.Tensor, tilt_axis_deg: float) -> torch.Tensor:
    """Specimen-frame views ``[n, y, x]`` -> detector images ``[n, *detector_shape]``.

    ``tilt_axis_deg == 0`` returns ``images`` unchanged (same object).

    Parameters
    ----------
    images : torch.Tensor
        (n, Y, X) the views in the specimen frame (tilt axis along y).
    tilt_axis_deg : float
        The tilt axis' angle on the detector from its y axis, in degrees, counter-clockwise.

    Returns
    -------
    torch.Tensor
        (n, Y', X') the detector images (:func:`detector_shape`), uncovered pixels at each image's mean.
    """
    if tilt_axis_deg == 0:
        return images
    return _rotate(images, tilt_axis_deg, detector_shape((images.shape[-2], images.shape[-1]), tilt_axis_deg))


def to_specimen(images: torch.Tensor, tilt_axis_deg: float, specimen_yx: tuple[int, int]) -> torch.Tensor:
    """Detector images ``[n, y', x']`` -> specimen-frame views ``[n, *specimen_yx]`` (tilt axis along y).

    The inverse of :func:`to_detector` up to interpolation; ``tilt_axis_deg == 0``
    returns ``images`` unchanged.

    Parameters
    ----------
    images : torch.Tensor
        (n, Y', X') the detector images.
    tilt_axis_deg : float
        The tilt axis' angle on the detector from its y axis, in degrees, counter-clockwise.
    specimen_yx : tuple of int
        ``(ny, nx)`` the specimen-frame view's shape in pixels.

    Returns
    -------
    torch.Tensor
        (n, ny, nx) the views in the specimen frame.
    """
    if tilt_axis_deg == 0:
        return images
    return _rotate(images, -tilt_axis_deg, specimen_yx)
