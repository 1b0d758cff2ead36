"""Fast local normalised cross-correlation (Roseman 2003) with torch FFTs.

For a template ``T`` under a (soft) spherical mask ``M`` with ``n = sum(M)``, the
template is normalised once per rotation, ``T' = M (T - mu_T) / sigma_T``
(M-weighted mean and standard deviation), and the score at ``x`` is

    NCC(x) = sum_m T'(m) V(x + m) / (n * sigma_V(x)),
    sigma_V(x)^2 = sum_m M(m) V(x + m)^2 / n - (sum_m M(m) V(x + m) / n)^2,

the M-weighted correlation coefficient of template and tomogram around ``x``
(in [-1, 1]; invariant to ``V -> a V + b``, ``a > 0``). The mask is a sphere,
so ``sigma_V`` is the same for every rotation and is computed once. Per
rotation the work is one forward and one inverse FFT of the volume size;
rotations are batched. Correlation is circular over the (padded) volume.
"""

from __future__ import annotations

import numpy as np
import torch

FAST_PRIMES = (2, 3, 5, 7)


def fast_size(n: int) -> int:
    """The smallest integer >= n whose prime factors are 2, 3, 5 and 7 (cheap FFT lengths)."""
    m = n
    while True:
        k = m
        for p in FAST_PRIMES:
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def rotation_grid(size: int, matrices: np.ndarray, device: str) -> torch.Tensor:
    """``grid_sample`` grid (B, n, n, n, 3) that turns a centred ``size^3`` template by ``matrices`` (B, 3, 3).

    Output voxel at ``r`` (xyz, relative to the centre ``n // 2``) reads the input
    at ``R^T r``, as :func:`tomobench.rotate.rotate_volume` does.
    """
    c = size // 2
    ax = torch.arange(size, dtype=torch.float32, device=device) - c
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")
    r = torch.stack([x, y, z], dim=-1).reshape(-1, 3)                       # (n^3, 3) xyz
    rot = torch.as_tensor(np.asarray(matrices), dtype=torch.float32, device=device)
    src = torch.einsum("bji,pj->bpi", rot, r) + c                           # R^T r + c (xyz index)
    norm = src * (2.0 / (size - 1)) - 1.0                                    # align_corners=True
    return norm.reshape(len(rot), size, size, size, 3)


def rotate_batch(template: torch.Tensor, matrices: np.ndarray) -> torch.Tensor:
    """Rotate a centred ``(n, n, n)`` template by each matrix (trilinear): ``(B, n, n, n)``."""
    n = template.shape[-1]
    grid = rotation_grid(n, matrices, str(template.device))
    vol = template.expand(len(grid), 1, n, n, n)
    return torch.nn.functional.grid_sample(vol, grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=True)[:, 0]


def normalise_under_mask(templates: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``M (T - mu) / sigma`` with M-weighted mean and standard deviation, per template of the batch."""
    n = mask.sum()
    mu = (templates * mask).sum(dim=(-3, -2, -1), keepdim=True) / n
    centred = (templates - mu) * mask
    var = (centred * (templates - mu)).sum(dim=(-3, -2, -1), keepdim=True) / n
    return centred / torch.sqrt(torch.clamp(var, min=1e-20))


class LocalCorrelator:
    """Scores of templates against one volume (or tile), with the local std map computed once.

    ``volume`` is zero-padded (after normalising to mean 0, std 1) to a fast FFT
    size of at least ``shape + pad``; scores come back cropped to ``volume.shape``.
    """

    def __init__(self, volume: np.ndarray, mask: np.ndarray, *, device: str = "cpu", pad: int = 0,
                 eps: float = 1e-3):
        volume = np.asarray(volume, dtype=np.float32)
        self.shape = volume.shape
        self.device = device
        self.fft_shape = tuple(fast_size(s + pad) for s in volume.shape)
        v = torch.zeros(self.fft_shape, dtype=torch.float32, device=device)
        t = torch.as_tensor(volume, device=device)
        std = t.std()
        v[: self.shape[0], : self.shape[1], : self.shape[2]] = (t - t.mean()) / (std if std > 0 else 1.0)
        self.n_mask = float(mask.sum())
        self.mask_size = mask.shape[0]
        self._index = [self._wrap_index(mask.shape[0], s).to(device) for s in self.fft_shape]
        dims = (-3, -2, -1)
        self.fv = torch.fft.rfftn(v, dim=dims)
        fm = torch.conj(torch.fft.rfftn(self._place(torch.as_tensor(mask, device=device)[None])[0], dim=dims))
        mean = torch.fft.irfftn(fm * self.fv, s=self.fft_shape, dim=dims) / self.n_mask
        mean_sq = torch.fft.irfftn(fm * torch.fft.rfftn(v * v, dim=dims), s=self.fft_shape, dim=dims) / self.n_mask
        sigma = torch.sqrt(torch.clamp(mean_sq - mean * mean, min=0.0))
        # Flat regions (zero padding) would divide by ~0: floor sigma at eps of the volume's unit std.
        self.inv_denom = 1.0 / (self.n_mask * torch.clamp(sigma, min=eps))
        self.inv_denom = self.inv_denom[: self.shape[0], : self.shape[1], : self.shape[2]].contiguous()

    @staticmethod
    def _wrap_index(n: int, size: int) -> torch.Tensor:
        return torch.remainder(torch.arange(n) - n // 2, size)

    def _place(self, templates: torch.Tensor) -> torch.Tensor:
        """Centred ``(B, n, n, n)`` templates into ``(B, *fft_shape)`` with the centre at index 0."""
        out = torch.zeros((templates.shape[0],) + self.fft_shape, dtype=torch.float32, device=self.device)
        iz, iy, ix = self._index
        out[:, iz[:, None, None], iy[None, :, None], ix[None, None, :]] = templates
        return out

    def raw(self, normalised: torch.Tensor) -> torch.Tensor:
        """Un-normalised correlations ``(B, *volume.shape)`` (a view); NCC = raw * :attr:`inv_denom`.

        ``inv_denom`` is positive and the same for every rotation, so the best
        rotation per voxel can be found on the raw maps and normalised once.
        """
        dims = (-3, -2, -1)
        ft = torch.fft.rfftn(self._place(normalised), dim=dims)
        corr = torch.fft.irfftn(torch.conj(ft) * self.fv, s=self.fft_shape, dim=dims)
        return corr[:, : self.shape[0], : self.shape[1], : self.shape[2]]

    def scores(self, normalised: torch.Tensor) -> torch.Tensor:
        """NCC maps ``(B, *volume.shape)`` of templates already passed through :func:`normalise_under_mask`."""
        return self.raw(normalised) * self.inv_denom
