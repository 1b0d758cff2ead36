"""Radiation damage: the exposure-dependent amplitude filter of Grant & Grigorieff (2015).

Grant & Grigorieff (eLife 4:e06980, 2015) measured, at 300 kV, the *critical
exposure* ``N_e(k)`` at which the amplitude of spatial frequency ``k`` has fallen
to ``exp(-1/2)`` (its power to ``1/e``)::

    N_e(k) = a k^b + c,   a = 0.245, b = -1.665, c = 2.81      (k in 1/Å, N_e in e/Å²)

and the amplitude after an accumulated exposure ``N`` is ``q(k, N) = exp(-N / (2 N_e(k)))``
(their eq. 3; e.g. 20 Å: ``N_e = 38.8 e/Å²``, ``q = 0.22`` after 117 e/Å²). A view
recorded while the exposure grows from ``N_0`` to ``N_0 + dN`` carries the mean of ``q``
over its own exposure, ``2 N_e / dN (q(N_0) - q(N_0 + dN))``. ``k = 0`` is kept
(``N_e`` is infinite there). The older model, a B-factor ``b N_0`` per view
(``exp(-b N_0 k^2 / 4)``), stays available as ``damage_model: b_factor``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from generator.microscope.detector import rfft_weights

GG_A = 0.245
GG_B = -1.665
GG_C = 2.81


def critical_exposure_e_per_a2(k_per_a: np.ndarray | torch.Tensor):
    """Grant & Grigorieff's critical exposure ``a k^b + c`` (e/Å²) at ``k`` (1/Å); infinite at ``k = 0``.

    Parameters
    ----------
    k_per_a : numpy.ndarray or torch.Tensor
        Spatial frequencies in 1/Å, any shape.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The critical exposure ``N_e`` in e/Å², float64, the kind and shape of ``k_per_a``.
    """
    if isinstance(k_per_a, torch.Tensor):
        k = k_per_a.double()
        return torch.where(k > 0, GG_A * torch.clamp(k, min=1e-12) ** GG_B + GG_C,
                           torch.full_like(k, float("inf")))
    k_np = np.asarray(k_per_a, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(k_np > 0, GG_A * np.where(k_np > 0, k_np, 1.0) ** GG_B + GG_C, np.inf)


def gg_amplitude(k_per_a, before_e_per_a2, view_e_per_a2=0.0):
    """Mean amplitude kept at ``k`` (1/Å) by a view exposed from ``before`` to ``before + view`` e/Å².

    ``view_e_per_a2 = 0`` gives the instantaneous ``exp(-before / (2 N_e))``. With numpy ``k``,
    ``before`` and ``view`` may be arrays that broadcast with it (e.g. ``[n, 1]`` against ``[m]``);
    with a torch ``k`` they are numbers.

    Parameters
    ----------
    k_per_a : numpy.ndarray or torch.Tensor
        Spatial frequencies in 1/Å, any shape.
    before_e_per_a2 : float or numpy.ndarray
        The dose received before the view in e/Å².
    view_e_per_a2 : float or numpy.ndarray
        The view's own dose in e/Å².

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The amplitude kept, in ``(0, 1]`` (1 at ``k = 0``), the kind of ``k_per_a``, of the
        broadcast shape of the inputs.
    """
    ne = critical_exposure_e_per_a2(k_per_a)
    if isinstance(ne, torch.Tensor):
        q0 = torch.exp(-float(before_e_per_a2) / (2.0 * ne))
        if view_e_per_a2 <= 0:
            return q0
        q1 = torch.exp(-(float(before_e_per_a2) + float(view_e_per_a2)) / (2.0 * ne))
        return torch.where(torch.isinf(ne), torch.ones_like(q0), 2.0 * ne / float(view_e_per_a2) * (q0 - q1))
    before, view = np.asarray(before_e_per_a2, dtype=np.float64), np.asarray(view_e_per_a2, dtype=np.float64)
    q0 = np.exp(-before / (2.0 * ne))
    q1 = np.exp(-(before + view) / (2.0 * ne))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = 2.0 * ne / np.where(view > 0, view, 1.0) * (q0 - q1)
    return np.where(np.isinf(ne), 1.0, np.where(view > 0, mean, q0))


def damage_filters(k_per_a: torch.Tensor, model: str, before_e_per_a2: np.ndarray,
                   view_e_per_a2: np.ndarray, b_per_e_a2: float = 0.0) -> torch.Tensor:
    """Per-view amplitude filters ``[n, *k.shape]`` (float32) for the views' exposures.

    ``model``: ``grant_grigorieff`` (:func:`gg_amplitude`), ``b_factor``
    (``exp(-b_per_e_a2 * before * k^2 / 4)``) or ``none`` (ones).

    Parameters
    ----------
    k_per_a : torch.Tensor
        Spatial frequencies in 1/Å on the views' rFFT grid, e.g. ``[ny, nx//2+1]``.
    model : str
        ``grant_grigorieff``, ``b_factor`` or ``none``.
    before_e_per_a2 : numpy.ndarray
        (n,) the dose each view received before it, in e/Å².
    view_e_per_a2 : numpy.ndarray
        (n,) each view's own dose in e/Å².
    b_per_e_a2 : float
        ``b_factor`` model: the B-factor added per unit of dose, in Å² per e/Å².

    Returns
    -------
    torch.Tensor
        ``[n, *k_per_a.shape]`` float32: the filters.
    """
    n = len(before_e_per_a2)
    if model == "none":
        return torch.ones((n, *k_per_a.shape), dtype=torch.float32, device=k_per_a.device)
    out = []
    for before, view in zip(before_e_per_a2, view_e_per_a2):
        if model == "b_factor":
            out.append(torch.exp(-(b_per_e_a2 * float(before) / 4.0) * k_per_a.double() ** 2))
        else:
            out.append(gg_amplitude(k_per_a, float(before), float(view)))
    return torch.stack(out).float()


def damage_dose_e_per_a2(spec: torch.Tensor, nx: int, k_per_a: torch.Tensor, model: str, *,
                         order_fraction: np.ndarray, target_snr: float, pixel_a: float, q: float,
                         b_per_e_a2: float = 0.0, iterations: int = 200) -> tuple[float, bool]:
    """The total dose the noise-free views correspond to at the SNR ``target_snr``: ``(dose, reached)``.

    ``spec`` ``[n, ny, nx//2+1]`` is the rFFT of the undamaged views (relative intensity),
    ``order_fraction[i]`` the share of the total dose received before view ``i`` (the
    views share the dose equally). The equivalent dose ``D`` (see
    ``detector.equivalent_dose_total_e_per_a2``) depends on the views' variance, which
    the damage for ``D`` lowers, so ``D = g(D)`` is iterated from the undamaged ``g(0)``
    (variances by Parseval on the rFFT grid, DC excluded); this finds the lowest dose
    giving the SNR. With damage the dose model's SNR has a maximum (more dose, less
    signal); a target above it has no dose: then ``(dose of the maximum SNR, False)``.

    Parameters
    ----------
    spec : torch.Tensor
        (n, ny, nx // 2 + 1) the rFFT of the undamaged views (relative intensity).
    nx : int
        The views' width in pixels.
    k_per_a : torch.Tensor
        (ny, nx // 2 + 1) the spatial frequencies in 1/Å.
    model : str
        ``grant_grigorieff``, ``b_factor`` or ``none``.
    order_fraction : numpy.ndarray
        (n,) each view's share of the total dose received before it.
    target_snr : float
        The SNR (variance ratio) to reach.
    pixel_a : float
        Pixel size in Å.
    q : float
        The detected fraction (:func:`detector.detected_fraction`).
    b_per_e_a2 : float
        ``b_factor`` model: Å² per e/Å².
    iterations : int
        The most fixed-point iterations.

    Returns
    -------
    dose : float
        The total dose in e/Å² (inf when the views have no contrast).
    reached : bool
        Whether that dose gives ``target_snr``.
    """
    n, ny, _ = spec.shape
    npix = ny * nx
    power = spec.abs().double() ** 2 * rfft_weights((ny, nx), spec.device)
    mean_sum = float(spec[:, 0, 0].real.double().sum()) / npix
    # the filters depend on |k| only: sum the power in fine rings (4096 up to the corner: 0.09 of the
    # k spacing of a 512-pixel image, 0.35 at 2048; only DC falls in ring 0)
    k_max = float(k_per_a.max())
    n_bins = 4096
    ring = torch.clamp((k_per_a.reshape(-1) / k_max * (n_bins - 1)).round().long(), 0, n_bins - 1)
    ring_power_t = torch.zeros((n, n_bins), dtype=torch.float64, device=spec.device)
    ring_power_t.index_add_(1, ring, power.reshape(n, -1))
    ring_power = ring_power_t.cpu().numpy()
    ring_k = np.linspace(0.0, k_max, n_bins)

    def g(dose: float) -> float:
        before = (np.asarray(order_fraction, dtype=np.float64) * dose)[:, None]
        if model == "b_factor":
            f = np.exp(-(b_per_e_a2 * before / 4.0) * ring_k[None, :] ** 2)
        else:
            f = gg_amplitude(ring_k[None, :], before, dose / n)
        var_sum = float((ring_power * f**2).sum()) / npix**2
        return math.inf if var_sum <= 0 else target_snr * n * mean_sum / (q * var_sum * pixel_a**2)

    dose = g(0.0)
    if model == "none" or not math.isfinite(dose):
        return dose, math.isfinite(dose)
    start = dose
    for _ in range(iterations):
        new = g(dose)
        if not math.isfinite(new) or new > 1e4 * start:
            break
        if abs(new - dose) <= 1e-7 * dose:
            return new, True
        dose = new
    # no fixed point: SNR(D) = target * D / g(D) is largest at the returned dose
    grid = start * np.logspace(-1, 4, 101)
    snr = [target_snr * d / g(float(d)) for d in grid]
    return float(grid[int(np.argmax(snr))]), False
