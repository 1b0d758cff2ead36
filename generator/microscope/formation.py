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
"""

from __future__ import annotations

import math

import numpy as np
import torch

from generator.microscope import ctf as ctfm
from generator.microscope.projector import project_slabs, view_matrix


def _slab_defocus_a(view, voxel_a: float, optics) -> torch.Tensor:
    return torch.as_tensor(optics.defocus_um * 1e4 + view.slab_depth_vox * voxel_a, dtype=torch.float64)


def fast_views(rows: torch.Tensor, views: list, nz: int, nx: int, voxel_a: float, optics,
               damage_b: list[float], struct_sigma: float, rng: np.random.Generator,
               device) -> torch.Tensor:
    """Noise-free intensity of a batch of views ``[len(views), ny, nx]`` (fast mode).

    ``views`` are :class:`ViewMatrix` objects (with slabs); ``damage_b[i]`` the extra
    B-factor of view i; ``struct_sigma`` the std (rad per voxel) of SHREC's structural noise.
    """
    slabs, ctfs, counts = [], [], []
    ny = rows.shape[1]
    for view, b in zip(views, damage_b):
        s = project_slabs(rows, view)  # [n_slabs, ny, nu]
        if struct_sigma > 0:
            s = s + _structural_noise(view, nz, nx, ny, struct_sigma, rng, device)
        slabs.append(s)
        df = _slab_defocus_a(view, voxel_a, optics).to(device)[:, None, None]
        ctfs.append(ctfm.ctf_2d((ny, view.nu), voxel_a, optics, df, extra_b_a2=b, device=device).float())
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


def multislice_view(rows: torch.Tensor, theta_deg: float, nz: int, nx: int, voxel_a: float, optics,
                    slice_vox: float, damage_b: float, struct_sigma: float,
                    rng: np.random.Generator, device) -> torch.Tensor:
    """Noise-free intensity ``[ny, nx]`` of one view by multislice wave propagation."""
    view = view_matrix(theta_deg, nz, nx, slab_vox=slice_vox, device=device)
    phi = project_slabs(rows, view)  # [n_slices, ny, nu]
    ny, nu = phi.shape[1:]
    if struct_sigma > 0:
        phi = phi + _structural_noise(view, nz, nx, ny, struct_sigma, rng, device)
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
    x = ctfm.chi(k, df_lens, lam, optics.cs_mm * 1e7)
    lens = torch.exp(1j * x) * ctfm.envelope(k, optics, lam, optics.defocus_um * 1e4, damage_b)
    if optics.phase_plate:
        pp = torch.full_like(k, math.radians(optics.phase_shift_deg))
        pp[0, 0] = 0.0
        lens = lens * torch.exp(1j * pp)
    psi = torch.fft.ifft2(torch.fft.fft2(psi) * lens.to(torch.complex64))
    return psi.abs() ** 2


def _structural_noise(view, nz: int, nx: int, ny: int, sigma: float, rng: np.random.Generator,
                      device) -> torch.Tensor:
    """Projection of fresh i.i.d. Gaussian potential noise (std ``sigma`` per voxel), per slab.

    The projection of i.i.d. noise along a path of length ``L`` voxels has std
    ``sigma * sqrt(L)``; ``L`` per slab and pixel is the projection of a volume of ones.
    """
    ones = torch.ones((nz * nx, 1), device=device)
    length = project_slabs(ones, view)  # [n_slabs, 1, nu]
    shape = (length.shape[0], ny, length.shape[2])
    noise = torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(device)
    return noise * sigma * torch.sqrt(length)
