"""Ray projector for single-axis tilt (axis = y) as sparse matrices, with depth slabs.

Joseph's method: for ``|theta| <= 45°`` the ray through detector pixel ``u``
crosses every z row once and the volume is interpolated linearly along x
(weight ``1 / cos theta``, the path length per row); beyond 45° the roles of x
and z swap. Every row of the volume ``[z, y, x]`` along y sees the same
geometry, so one view is a sparse matrix ``A`` of shape ``(n_slabs * nu, nz * nx)``
acting on the volume laid out as ``(nz * nx, ny)``: ``P = A @ V`` costs
``2 * max(nz, nx) * nu * ny`` multiply-adds. The back-projection is ``A.T``.

Each ray sample is also assigned to a *depth slab*: its depth
``w = -x sin(theta) + z cos(theta)`` (voxels, relative to the centre voxel
``n // 2``) is binned in slabs of ``slab_vox``, so one matrix product yields the
projection of every slab (the defocus gradient, CTS's strips in depth).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


@dataclass
class ViewMatrix:
    """Sparse projection matrix of one view and the depth (voxels, from the centre) of its slab centres."""

    matrix: torch.Tensor  # CSR (n_slabs * nu, nz * nx)
    slab_depth_vox: np.ndarray  # [n_slabs]
    nu: int


def _ray_samples(theta_rad: float, nz: int, nx: int, nu: int):
    """(u, z, x, weight, depth) of the two interpolation taps of every ray sample."""
    cz, cx, cu = nz // 2, nx // 2, nu // 2
    s, c = math.sin(theta_rad), math.cos(theta_rad)
    uc = np.arange(nu, dtype=np.float64) - cu
    # the ray of pixel u is x c + z s = u: step along z (interpolate along x) up to 45°, beyond along x
    step_z = abs(c) >= abs(s)
    n_step, c_step, k_step, n_int, c_int, k_int = (nz, cz, s, nx, cx, c) if step_z else (nx, cx, c, nz, cz, s)
    a = np.arange(n_step, dtype=np.float64)[:, None] - c_step
    b = (uc[None, :] - a * k_step) / k_int  # interpolated coordinate (from centre) where the ray crosses row a
    zc, xc = (a, b) if step_z else (b, a)
    depth = -xc * s + zc * c
    step_idx = np.broadcast_to(np.arange(n_step)[:, None], b.shape)
    uu = np.broadcast_to(np.arange(nu)[None, :], b.shape)
    pos = b + c_int
    i0 = np.floor(pos).astype(np.int64)
    f = pos - i0
    w = 1.0 / abs(k_int)
    out = []
    for idx, wt in ((i0, (1 - f) * w), (i0 + 1, f * w)):
        m = (idx >= 0) & (idx < n_int) & (wt > 0)
        zz, xx = (step_idx[m], idx[m]) if step_z else (idx[m], step_idx[m])
        out.append((uu[m], zz, xx, wt[m], depth[m]))
    return [np.concatenate(parts) for parts in zip(*out)]


def depth_extent(theta_rad: float, nz: int, nx: int) -> tuple[float, float]:
    """Smallest and largest depth (voxels from the centre) of the volume at tilt ``theta_rad``.

    Parameters
    ----------
    theta_rad : float
        Tilt angle in rad.
    nz, nx : int
        The volume's depth and width in voxels.

    Returns
    -------
    tuple of float
        ``(lo, hi)`` the depth range of the voxel corners along the beam, in voxels from the centre.
    """
    cz, cx = nz // 2, nx // 2
    s, c = math.sin(theta_rad), math.cos(theta_rad)
    corners = [-(x - cx) * s + (z - cz) * c for x in (-0.5, nx - 0.5) for z in (-0.5, nz - 0.5)]
    return min(corners), max(corners)


def view_matrix(theta_deg: float, nz: int, nx: int, nu: int | None = None, *,
                slab_vox: float = 0.0, device: torch.device | str = "cpu") -> ViewMatrix:
    """Sparse matrix of one view at tilt ``theta_deg`` for a volume with ``nz`` x ``nx`` voxels per y row.

    ``slab_vox <= 0`` gives one slab (the plain projection). The back-projection is the
    transpose of the matrix (``matrix.t()``).

    Parameters
    ----------
    theta_deg : float
        Tilt angle in degrees.
    nz, nx : int
        The volume's depth and width in voxels.
    nu : int or None
        Detector width in pixels; None = ``nx``.
    slab_vox : float
        Depth slab thickness in voxels along the beam; <= 0 = one slab.
    device : torch.device or str
        Where the matrix lives.

    Returns
    -------
    ViewMatrix
        The CSR matrix ``(n_slabs * nu, nz * nx)`` (float32), the slab centres' depths ``(n_slabs,)``
        in voxels from the centre, and ``nu``.
    """
    nu = nx if nu is None else nu
    th = math.radians(theta_deg)
    u, z, x, wt, depth = _ray_samples(th, nz, nx, nu)
    if slab_vox > 0:
        lo, hi = depth_extent(th, nz, nx)
        n_slabs = max(1, int(math.ceil((hi - lo) / slab_vox)))
        slab = np.clip(np.floor((depth - lo) / slab_vox).astype(np.int64), 0, n_slabs - 1)
        centres = lo + (np.arange(n_slabs) + 0.5) * slab_vox
    else:
        n_slabs, slab, centres = 1, np.zeros_like(u), np.array([0.0])
    a = csr_matrix(slab * nu + u, z * nx + x, wt, (n_slabs * nu, nz * nx), device)
    return ViewMatrix(a, centres, nu)


def csr_matrix(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int],
               device: torch.device | str = "cpu") -> torch.Tensor:
    """A sparse CSR matrix from (row, column, value) triplets without duplicates (built directly, no coalesce).

    Parameters
    ----------
    rows, cols : numpy.ndarray
        (m,) integer row and column of each entry.
    vals : numpy.ndarray
        (m,) the values (stored as float32).
    shape : tuple of int
        ``(n_rows, n_cols)`` of the matrix.
    device : torch.device or str
        Where the matrix lives.

    Returns
    -------
    torch.Tensor
        The sparse CSR matrix of ``shape``.
    """
    order = np.argsort(rows, kind="stable")
    crow = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=crow[1:])
    with torch.sparse.check_sparse_tensor_invariants(False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(cols[order].astype(np.int64)),
                                       torch.from_numpy(vals[order].astype(np.float32)), shape).to(device)


def volume_rows(volume: torch.Tensor) -> torch.Tensor:
    """Lay a volume ``[z, y, x]`` out as ``(nz * nx, ny)``, the right operand of a view matrix.

    Parameters
    ----------
    volume : torch.Tensor
        (Z, Y, X) the volume.

    Returns
    -------
    torch.Tensor
        (Z * X, Y) the same values, contiguous.
    """
    nz, ny, nx = volume.shape
    return volume.permute(0, 2, 1).reshape(nz * nx, ny).contiguous()


def rows_to_volume(rows: torch.Tensor, nz: int, nx: int) -> torch.Tensor:
    """Inverse of :func:`volume_rows`: ``(nz * nx, ny)`` -> ``[z, y, x]``.

    Parameters
    ----------
    rows : torch.Tensor
        (nz * nx, Y) projector rows.
    nz, nx : int
        The volume's depth and width in voxels.

    Returns
    -------
    torch.Tensor
        (nz, Y, nx) the volume, contiguous.
    """
    ny = rows.shape[1]
    return rows.reshape(nz, nx, ny).permute(0, 2, 1).contiguous()


def project_slabs(rows: torch.Tensor, view: ViewMatrix) -> torch.Tensor:
    """Projections of every depth slab of one view: ``[n_slabs, ny, nu]`` (units: value x voxels).

    Parameters
    ----------
    rows : torch.Tensor
        (Z * X, Y) the volume as projector rows (:func:`volume_rows`).
    view : ViewMatrix
        The view (:func:`view_matrix`).

    Returns
    -------
    torch.Tensor
        (n_slabs, Y, nu) the line integrals of each slab (value per voxel times voxels of path).
    """
    p = view.matrix @ rows  # (n_slabs * nu, ny)
    n_slabs = len(view.slab_depth_vox)
    return p.reshape(n_slabs, view.nu, -1).transpose(1, 2)


def project(volume: np.ndarray | torch.Tensor, angles_deg, *, device: torch.device | str = "cpu") -> torch.Tensor:
    """Plain line-integral projections ``[n, ny, nx]`` of a volume ``[z, y, x]`` (no slabs, no physics).

    Parameters
    ----------
    volume : numpy.ndarray or torch.Tensor
        (Z, Y, X) the volume.
    angles_deg : sequence of float
        (n,) the tilt angles in degrees.
    device : torch.device or str
        Where the projections are computed.

    Returns
    -------
    torch.Tensor
        (n, Y, X) float32: the projections (value per voxel times voxels of path).
    """
    v = torch.as_tensor(np.asarray(volume, dtype=np.float32), device=device)
    rows = volume_rows(v)
    nz, _, nx = v.shape
    return torch.stack([project_slabs(rows, view_matrix(a, nz, nx, device=device))[0] for a in angles_deg])
