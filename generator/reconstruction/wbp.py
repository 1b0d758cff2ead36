"""Weighted back-projection and SIRT for single-axis tilt series (tilt axis = y).

Geometry as :mod:`generator.microscope.geometry`: detector coordinate
``u = x cos(theta) + z sin(theta)`` relative to the centre voxels ``n // 2``.
Input views are *contrast* images (zero mean, dense matter positive);
:func:`contrast_images` makes them from intensity images.

WBP: ``f(x, z) = sum_i dtheta_i * (h * p_i)(u_i(x, z))`` with ``h`` the discrete
Ram-Lak ramp (its spectrum is ``|k|``, ``k`` in cycles/pixel, computed from the
spatial kernel ``h(0) = 1/4, h(n odd) = -1/(pi n)^2`` on a zero-padded grid, so
there is no DC offset), times an optional window; ``dtheta_i`` the angular
interval each view stands for. The back-projection interpolates each view
linearly at ``u`` (voxel driven). With views over a full 180° this inverts the
projector of :mod:`generator.microscope.projector` (same units: value per voxel).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import numpy as np
import torch

from generator.microscope import ctf as ctfm
from generator.microscope.detector import apply_filter
from generator.microscope.geometry import angular_weights
from generator.microscope.projector import csr_matrix, rows_to_volume, view_matrix

if TYPE_CHECKING:
    from generator.microscope.params import OpticsParams
    from generator.reconstruction.params import ReconstructionParams


def ramp_filter(n: int, apodization: str = "hann", cutoff: float = 1.0) -> torch.Tensor:
    """Ramp filter on the rFFT grid of length ``2 * n`` (zero padding), with a window.

    ``cutoff`` is the fraction of Nyquist where the window reaches 0.

    Parameters
    ----------
    n : int
        The views' width in pixels (the filter is for ``2 * n`` after zero padding).
    apodization : str
        ``hann``, ``hamming``, ``cosine``, ``shepp_logan``; anything else = no window.
    cutoff : float
        Fraction of Nyquist where the window reaches 0, > 0.

    Returns
    -------
    torch.Tensor
        (n + 1,) float32: the filter on the rFFT grid of length ``2 * n``.
    """
    m = 2 * n
    idx = torch.arange(m, dtype=torch.float64)
    idx = torch.where(idx > m // 2, idx - m, idx)
    h = torch.zeros(m, dtype=torch.float64)
    h[0] = 0.25
    odd = (idx.abs() % 2) == 1
    h[odd] = -1.0 / (math.pi * idx[odd]) ** 2
    ramp = torch.fft.rfft(h).real
    f = torch.fft.rfftfreq(m, dtype=torch.float64) / 0.5 / cutoff  # 1 at the cutoff
    if apodization == "hann":
        win = 0.5 * (1 + torch.cos(math.pi * f))
    elif apodization == "hamming":
        win = 0.54 + 0.46 * torch.cos(math.pi * f)
    elif apodization == "cosine":
        win = torch.cos(0.5 * math.pi * f)
    elif apodization == "shepp_logan":
        win = torch.sinc(0.5 * f)
    else:
        win = torch.ones_like(f)
    win = torch.where(f <= 1.0, win, torch.zeros_like(win))
    return (ramp * win).float()


def filter_views(views: torch.Tensor, apodization: str = "hann", cutoff: float = 1.0) -> torch.Tensor:
    """Ramp-filter images ``[n, y, u]`` along u (perpendicular to the tilt axis).

    Parameters
    ----------
    views : torch.Tensor
        (n, Y, U) contrast views.
    apodization : str
        The window of :func:`ramp_filter`.
    cutoff : float
        Fraction of Nyquist where the window reaches 0.

    Returns
    -------
    torch.Tensor
        (n, Y, U) the filtered views.
    """
    n_u = views.shape[-1]
    filt = ramp_filter(n_u, apodization, cutoff).to(views.device)
    spec = torch.fft.rfft(views, n=2 * n_u, dim=-1) * filt
    return torch.fft.irfft(spec, n=2 * n_u, dim=-1)[..., :n_u]


def contrast_images(images: torch.Tensor, voxel_a: float, optics: OpticsParams | None = None, phase_flip: bool = False,
                    contrast: str = "protein_bright") -> torch.Tensor:
    """Intensity views ``[n, y, x]`` -> contrast ``-(I / mean - 1)`` (dense matter positive at underfocus).

    With ``phase_flip`` the spectrum of ``I / mean - 1`` is multiplied by the sign of
    the CTF at the nominal defocus instead (which also gives dense matter positive).
    ``contrast="protein_dark"`` (IMOD's convention, that of the raw views) negates the result.

    Parameters
    ----------
    images : torch.Tensor
        (n, Y, X) intensity views (counts or relative intensity), in the specimen frame.
    voxel_a : float
        Pixel size in Å (for the CTF of ``phase_flip``).
    optics : OpticsParams or None
        The optics whose CTF ``phase_flip`` corrects; needed only with ``phase_flip``.
    phase_flip : bool
        Correct the CTF by phase flipping at the nominal defocus.
    contrast : str
        ``protein_bright`` or ``protein_dark``.

    Returns
    -------
    torch.Tensor
        (n, Y, X) the contrast views (zero mean per view, dimensionless).
    """
    if contrast not in ("protein_bright", "protein_dark"):
        raise ValueError(f"contrast must be protein_bright or protein_dark, got {contrast!r}")
    sign = 1.0 if contrast == "protein_bright" else -1.0
    mean = images.mean(dim=(-2, -1), keepdim=True)
    rel = images / mean - 1.0
    if not phase_flip:
        return -sign * rel
    if optics is None:
        raise ValueError("phase_flip needs the optics of the CTF to correct")
    ny, nx = images.shape[-2:]
    c = ctfm.ctf_2d((ny, nx), voxel_a, optics, device=images.device, with_envelope=False)
    return sign * apply_filter(rel, torch.sign(c).float())


def _bp_matrix(angles_deg, nz: int, nx: int, nu: int, device) -> torch.Tensor:
    """Voxel-driven back-projection of several views at once: CSR ``(nz * nx, len(angles) * nu)``.

    Voxel (z, x) reads view j linearly at ``u(x, z)``; multiplying by the views stacked as
    ``(len(angles) * nu, ny)`` sums their back-projections in one pass over the volume.
    """
    zc = np.arange(nz)[:, None] - nz // 2
    xc = np.arange(nx)[None, :] - nx // 2
    vox = np.arange(nz * nx)
    rows, cols, vals = [], [], []
    for j, a in enumerate(angles_deg):
        th = math.radians(float(a))
        u = (xc * math.cos(th) + zc * math.sin(th) + nu // 2).ravel()
        u0 = np.floor(u).astype(np.int64)
        f = u - u0
        for idx, w in ((u0, 1 - f), (u0 + 1, f)):
            m = (idx >= 0) & (idx < nu) & (w > 0)
            rows.append(vox[m])
            cols.append(idx[m] + j * nu)
            vals.append(w[m])
    return csr_matrix(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals),
                      (nz * nx, len(angles_deg) * nu), device)


def backproject(views: torch.Tensor, angles_deg, nz: int, weights=None, progress=None,
                views_per_pass: int = 8) -> torch.Tensor:
    """Sum of the back-projections of views ``[n, ny, nu]`` into a volume ``[nz, ny, nu]``.

    ``views_per_pass`` views are back-projected per sparse product (one pass over the volume each).

    Parameters
    ----------
    views : torch.Tensor
        (n, ny, nu) the (filtered) views.
    angles_deg : sequence of float
        (n,) the tilt angles in degrees.
    nz : int
        The reconstruction's thickness in voxels.
    weights : numpy.ndarray or None
        (n,) a weight per view (e.g. :func:`angular_weights`, rad); None = ones.
    progress : tqdm.tqdm or None
        A progress bar advanced once per view (or iteration); None = none.
    views_per_pass : int
        Views per sparse product (memory against speed).

    Returns
    -------
    torch.Tensor
        (nz, ny, nu) float32: the volume.
    """
    n, ny, nu = views.shape
    weights = np.ones(n) if weights is None else np.asarray(weights)
    angles = np.asarray(angles_deg, dtype=float)
    acc = torch.zeros((nz * nu, ny), dtype=torch.float32, device=views.device)
    w = torch.as_tensor(weights, dtype=torch.float32, device=views.device)[:, None, None]
    for s in range(0, n, views_per_pass):
        e = min(n, s + views_per_pass)
        stacked = (views[s:e] * w[s:e]).transpose(1, 2).reshape((e - s) * nu, ny).contiguous()
        acc += _bp_matrix(angles[s:e], nz, nu, nu, views.device) @ stacked
        if progress is not None:
            progress.update(e - s)
    return rows_to_volume(acc, nz, nu)


def wbp(views: torch.Tensor, angles_deg, nz: int, *, apodization: str = "hann", cutoff: float = 1.0,
        progress=None) -> torch.Tensor:
    """Weighted back-projection of contrast views ``[n, ny, nx]`` into ``[nz, ny, nx]``.

    Parameters
    ----------
    views : torch.Tensor
        (n, ny, nx) contrast views (:func:`contrast_images`) in the specimen frame.
    angles_deg : sequence of float
        (n,) the (nominal) tilt angles in degrees.
    nz : int
        The reconstruction's thickness in voxels.
    apodization : str
        The window of :func:`ramp_filter`.
    cutoff : float
        Fraction of Nyquist where the window reaches 0.
    progress : tqdm.tqdm or None
        A progress bar advanced once per view (or iteration); None = none.

    Returns
    -------
    torch.Tensor
        (nz, ny, nx) float32: the volume, in the units of the projector (value per voxel).
    """
    filtered = filter_views(views, apodization, cutoff)
    return backproject(filtered, angles_deg, nz, angular_weights(np.asarray(angles_deg)), progress)


def sirt(views: torch.Tensor, angles_deg, nz: int, *, iterations: int = 10, relaxation: float = 1.0,
         progress=None) -> torch.Tensor:
    """SIRT: ``x += lambda * C A^T R (p - A x)`` with ``R``, ``C`` the inverse row / column sums of ``A``.

    ``A`` is the projector of :mod:`generator.microscope.projector` (Joseph), matched with its transpose.

    Parameters
    ----------
    views : torch.Tensor
        (n, ny, nu) contrast views in the specimen frame.
    angles_deg : sequence of float
        (n,) the tilt angles in degrees.
    nz : int
        The reconstruction's thickness in voxels.
    iterations : int
        The number of SIRT iterations.
    relaxation : float
        ``lambda``, the relaxation factor.
    progress : tqdm.tqdm or None
        A progress bar advanced once per view (or iteration); None = none.

    Returns
    -------
    torch.Tensor
        (nz, ny, nu) float32: the volume (value per voxel).
    """
    n, ny, nu = views.shape
    mats = [view_matrix(float(a), nz, nu, nu, device=views.device).matrix for a in angles_deg]
    mats_t = [m.t().to_sparse_csr() for m in mats]  # the back-projection A^T
    ones_vol = torch.ones((nz * nu, 1), device=views.device)
    ones_img = torch.ones((nu, 1), device=views.device)
    inv_row = [1.0 / torch.clamp(m @ ones_vol, min=1e-6) for m in mats]  # (nu, 1)
    # a sum of (nz * nu, 1) tensors (there is at least one view); typeshed's sum() does not say so
    col = cast(torch.Tensor, sum(mt @ ones_img for mt in mats_t))
    inv_col = 1.0 / torch.clamp(col, min=1e-6)  # (nz * nu, 1)
    p = [views[i].transpose(0, 1).contiguous() for i in range(n)]  # (nu, ny)
    x = torch.zeros((nz * nu, ny), device=views.device)
    for _ in range(iterations):
        upd = torch.zeros_like(x)
        for m, mt, r, pi in zip(mats, mats_t, inv_row, p):
            upd += mt @ ((pi - m @ x) * r)
        x += relaxation * inv_col * upd
        if progress is not None:
            progress.update(1)
    return rows_to_volume(x, nz, nu)


def reconstruct(views: torch.Tensor, angles_deg, nz: int, params: ReconstructionParams,
                progress=None) -> torch.Tensor:
    """Reconstruct contrast views with :class:`ReconstructionParams` ``params`` into ``[nz, ny, nx]``.

    Parameters
    ----------
    views : torch.Tensor
        (n, ny, nx) contrast views in the specimen frame.
    angles_deg : sequence of float
        (n,) the tilt angles in degrees.
    nz : int
        The reconstruction's thickness in voxels.
    params : ReconstructionParams
        The method (``wbp`` or ``sirt``) and its settings.
    progress : tqdm.tqdm or None
        A progress bar advanced once per view (or iteration); None = none.

    Returns
    -------
    torch.Tensor
        (nz, ny, nx) float32: the volume.
    """
    if params.method == "sirt":
        return sirt(views, angles_deg, nz, iterations=params.sirt_iterations,
                    relaxation=params.sirt_relaxation, progress=progress)
    return wbp(views, angles_deg, nz, apodization=params.apodization, cutoff=params.apodization_cutoff,
               progress=progress)


__all__ = ["ramp_filter", "filter_views", "contrast_images", "backproject", "wbp", "sirt", "reconstruct"]
