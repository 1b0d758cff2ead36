"""Image formation per view: fast (weak phase, defocus by depth slab) and multislice.

Both take the *phase volume* ``phi`` (radians per voxel of path, mean removed:
``sigma * V * voxel_a``) laid out as projector rows, and return noise-free
intensity images (1 = unscattered beam) before attenuation and the detector.

- fast: each depth slab ``k`` of the view is projected, gets the CTF of its own
  defocus ``df0 + w_k`` (``w_k`` the slab's depth along the beam, so the part of
  the sample nearer the detector is more underfocused, and a tilted sample
  has a defocus gradient across the image), and the slab images are summed:
  ``I = 1 + 2 F^-1[sum_k CTF_k FT(phi_k)]`` (linear, weak-phase).
- multislice: the SHREC 2020 model. The wave starts as a plane wave, is
  multiplied by ``exp((i - eta) phi_k)`` for each slab (``eta = A / sqrt(1 - A^2)``,
  the amplitude contrast as absorption), propagated by the slab thickness with
  the Fresnel propagator ``exp(-i pi lambda dz k^2)``, and imaged by the lens
  ``exp(i chi(k))`` with the defocus referred to the last slab; ``I = |psi|^2``.

Beam damage is not applied here: it is an amplitude filter on each finished view
(``generator.microscope.damage``), exact for the linear (weak-phase) fast mode and
its first-order form in multislice.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from generator.microscope import ctf as ctfm
from generator.microscope.projector import project_slabs, view_matrix

if TYPE_CHECKING:
    from generator.microscope.params import OpticsParams


def _slab_defocus_a(view, voxel_a: float, optics: OpticsParams) -> torch.Tensor:
    return torch.as_tensor(optics.defocus_a + view.slab_depth_vox * voxel_a, dtype=torch.float64)


def fast_views(rows: torch.Tensor, views: list, voxel_a: float, optics: OpticsParams, material: torch.Tensor,
               struct_sigma: float, rng: np.random.Generator, device) -> torch.Tensor:
    """Noise-free intensity of a batch of views ``[len(views), ny, nx]`` (fast mode).

    ``views`` are :class:`ViewMatrix` objects (with slabs); ``struct_sigma`` the std (rad per
    voxel) of SHREC's structural noise in the voxels that hold matter (``material``, see
    :func:`structural_noise`). Beam damage is a filter on the finished views (``damage.py``).

    Parameters
    ----------
    rows : torch.Tensor
        (Z * X, Y) the phase volume in rad per voxel, as projector rows (:func:`volume_rows`).
    views : list of ViewMatrix
        The views of the batch, each with its depth slabs (:func:`view_matrix` with ``slab_vox``).
    voxel_a : float
        Voxel size in Å (also the pixel size).
    optics : OpticsParams
        The optics of the CTF (nominal defocus ``defocus_um`` in µm, the slabs' depth added).
    material : torch.Tensor
        (Z * X, 1) the matter fraction of each layer (:func:`material_rows`).
    struct_sigma : float
        Std of the structural noise in rad per matter voxel; 0 = none.
    rng : numpy.random.Generator
        The source of the structural noise.
    device : torch.device or str
        Where the computation runs.

    Returns
    -------
    torch.Tensor
        (len(views), Y, nu) the intensity, 1 = unscattered beam (float32).
    """
    slabs, ctfs, counts = [], [], []
    ny = rows.shape[1]
    for view in views:
        s = project_slabs(rows, view)  # [n_slabs, ny, nu]
        if struct_sigma > 0:
            s = s + structural_noise(view, material, ny, struct_sigma, rng, device)
        slabs.append(s)
        df = _slab_defocus_a(view, voxel_a, optics).to(device)[:, None, None]
        ctfs.append(ctfm.ctf_2d((ny, view.nu), voxel_a, optics, df, device=device).float())
        counts.append(s.shape[0])
    spec = torch.fft.rfft2(torch.cat(slabs)) * torch.cat(ctfs)
    spec[:, 0, 0] = 0  # the mean phase is absorbed by the attenuation model, not by the CTF
    out = []
    start = 0
    for c in counts:
        out.append(spec[start:start + c].sum(0))
        start += c
    contrast = torch.fft.irfft2(torch.stack(out), s=(ny, views[0].nu))
    return 1.0 + 2.0 * contrast


def multislice_view(rows: torch.Tensor, theta_deg: float, nz: int, nx: int, voxel_a: float, optics: OpticsParams, *,
                    slice_vox: float, material: torch.Tensor, struct_sigma: float,
                    rng: np.random.Generator, device) -> torch.Tensor:
    """Noise-free intensity ``[ny, nx]`` of one view by multislice wave propagation.

    Parameters
    ----------
    rows : torch.Tensor
        (nz * nx, Y) the phase volume in rad per voxel, as projector rows (:func:`volume_rows`).
    theta_deg : float
        The view's (true) tilt angle in degrees.
    nz, nx : int
        The volume's depth and width in voxels.
    voxel_a : float
        Voxel size in Å (also the pixel size).
    optics : OpticsParams
        Voltage (kV), amplitude contrast, Cs (mm), defocus (µm), astigmatism, envelopes, phase plate.
    slice_vox : float
        Slice thickness in voxels, > 0.
    material : torch.Tensor
        (nz * nx, 1) the matter fraction of each layer (:func:`material_rows`).
    struct_sigma : float
        Std of the structural noise in rad per matter voxel; 0 = none.
    rng : numpy.random.Generator
        The source of the structural noise.
    device : torch.device or str
        Where the computation runs.

    Returns
    -------
    torch.Tensor
        (Y, nx) the intensity ``|psi|^2``, 1 = unscattered beam (float32).
    """
    view = view_matrix(theta_deg, nz, nx, slab_vox=slice_vox, device=device)
    phi = project_slabs(rows, view)  # [n_slices, ny, nu]
    ny, nu = phi.shape[1:]
    if struct_sigma > 0:
        phi = phi + structural_noise(view, material, ny, struct_sigma, rng, device)
    lam = ctfm.wavelength_a(optics.voltage_kv)
    k, az = ctfm.frequency_grid((ny, nu), voxel_a, rfft=False, device=device)
    dz = slice_vox * voxel_a
    propagator = torch.exp(-1j * math.pi * lam * dz * k**2).to(torch.complex64)
    eta = optics.amplitude_contrast / math.sqrt(1 - optics.amplitude_contrast**2)
    phi = phi.contiguous()
    phi -= phi.mean(dim=(1, 2), keepdim=True)
    psi = torch.ones((ny, nu), dtype=torch.complex64, device=device)
    n = phi.shape[0]
    for i in range(n):
        psi.mul_(torch.polar(torch.exp(-eta * phi[i]), phi[i]))  # exp((i - eta) phi)
        if i < n - 1:
            spec = torch.fft.fft2(psi)
            spec.mul_(propagator)
            psi = torch.fft.ifft2(spec)
    df_lens = ctfm.astigmatic_defocus(float(_slab_defocus_a(view, voxel_a, optics)[-1]), az, optics)
    x = ctfm.chi(k, df_lens, lam, optics.cs_a)
    lens = torch.exp(1j * x) * ctfm.envelope(k, optics, lam, optics.defocus_a, pixel_a=voxel_a)
    if optics.phase_plate:
        pp = torch.full_like(k, math.radians(optics.phase_shift_deg))
        pp[0, 0] = 0.0
        lens = lens * torch.exp(1j * pp)
    psi = torch.fft.ifft2(torch.fft.fft2(psi) * lens.to(torch.complex64))
    return psi.abs() ** 2


def material_rows(grandmodel: torch.Tensor) -> torch.Tensor:
    """Fraction of the voxels of each z layer that hold matter (> 0: ice or protein, not vacuum).

    SHREC adds structural noise only there.

    Parameters
    ----------
    grandmodel : torch.Tensor
        (Z, Y, X) the potential per voxel.

    Returns
    -------
    torch.Tensor
        (Z * X, 1) float32: each layer's fraction, laid out as projector rows (:func:`volume_rows`).
    """
    nz, _, nx = grandmodel.shape
    frac = (grandmodel > 0).float().mean(dim=(1, 2))  # [nz]
    return frac[:, None].expand(nz, nx).reshape(nz * nx, 1).contiguous()


def structural_noise(view, material: torch.Tensor, ny: int, sigma: float, rng: np.random.Generator,
                     device) -> torch.Tensor:
    """Projection of fresh i.i.d. Gaussian potential noise (std ``sigma`` per material voxel), per slab.

    The projection of i.i.d. noise along a path through ``L`` material voxels has std
    ``sigma * sqrt(L)``; ``L`` per slab and pixel is the projection of ``material``
    (:func:`material_rows`, the material fraction of each layer: exact for laterally uniform
    ice, and protein is matter too).

    Parameters
    ----------
    view : ViewMatrix
        The view, with its depth slabs.
    material : torch.Tensor
        (Z * X, 1) the matter fraction of each layer (:func:`material_rows`).
    ny : int
        The number of image rows (along the tilt axis).
    sigma : float
        Std of the noise in rad per matter voxel.
    rng : numpy.random.Generator
        The source of the noise.
    device : torch.device or str
        Where the computation runs.

    Returns
    -------
    torch.Tensor
        (n_slabs, ny, nu) the noise of each slab's projection in rad (float32).
    """
    length = project_slabs(material, view)  # [n_slabs, 1, nu]
    shape = (length.shape[0], ny, length.shape[2])
    noise = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(device)
    return noise * sigma * torch.sqrt(torch.clamp(length, min=0.0))
