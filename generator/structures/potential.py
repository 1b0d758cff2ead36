"""Electron scattering potential of a complex on a voxel grid.

Units: a template holds the electrostatic potential of the isolated-atom model in
**volts**, band-limited to the voxel grid and sampled at voxel centres, so that
``template.sum() * voxel_size_a**3`` equals the integral of the potential
(V·Å³) = ``K * Σ f_e(0)`` over the atoms (``K = h²/(2π m0 e) = 47.878 V·Å²``,
``f_e`` the five-Gaussian electron scattering factors of Peng et al. 1996 as
tabulated in gemmi, ``Element.c4322``; implicit hydrogens add ``n_h * f_H``).

Method (no per-atom Python loop, no aliasing):
1. atoms are spread, per element (hydrogens as a group of their own, weighted by
   their count), on a fine grid of spacing ``h = voxel / f`` (``f >= 3``,
   ``h <= fine_spacing_a``) with a normalised Gaussian kernel (σ = 0.5 h, 4³ points);
2. the fine grids are Fourier transformed and cropped to the frequencies of the
   target grid (a Fourier crop, so nothing above the target Nyquist folds back);
3. the spreading kernel is divided out and each element's scattering factor
   ``f_e(q) = Σ a_i exp(-b_i q² / 4)`` (q = 1/d) multiplied in, which makes the
   result independent of the fine spacing;
4. an isotropic band limit (1 below the target Nyquist, 0 from Nyquist on) removes
   the corners of the cubic spectrum, so a rotated template holds the same band as an
   unrotated one; then the inverse FFT gives the voxel values. Everything below Nyquist
   is kept: at 10 Å voxels and 3 µm underfocus the CTF's last lobe below Nyquist
   (24.6–20 Å) carries about 45 % of the power that a white 3D spectrum keeps through
   the CTF, and a taper would cut it (a raised cosine from 0.6 Nyquist removed 99 %).

The box is cubic with ``n`` voxels (even), the centre of mass on voxel ``n // 2``.
"""

from __future__ import annotations

import math

import gemmi
import numpy as np
import scipy.fft

from generator.structures.atoms import AtomSet

K_V_A2 = 47.878                 # h^2 / (2 pi m0 e) in V·Å^2 (= 2 pi a0 e)
PROTEIN_DENSITY_DA_A3 = 1.35 * 0.602214076   # 1.35 g/cm^3 in Da/Å^3 (= 0.813)
BAND_LIMIT_NYQUIST = 1.0        # the band limit as a fraction of the target Nyquist (an isotropic sphere)
SPREAD_SIGMA = 0.5              # spreading kernel sigma in fine-grid spacings
_SPREAD_POINTS = 4              # kernel support per axis: floor(u) - 1 .. floor(u) + 2 (cut at >= 4 sigma)
# Average composition of an amino-acid residue (UniProt-like), hydrogens explicit, for the bulk potential.
_REFERENCE_RESIDUE = {"C": 5.0, "H": 7.9, "N": 1.35, "O": 1.5, "S": 0.04}


def scattering_coefficients(z: int) -> tuple[np.ndarray, np.ndarray]:
    """Peng 1996 five-Gaussian electron scattering factor of element ``z``: (a_i in Å, b_i in Å²)."""
    coefs = np.asarray(gemmi.Element(int(z)).c4322.get_coefs(), float)
    return coefs[:5], coefs[5:]


def scattering_factor(z: int, q_inv_a: np.ndarray) -> np.ndarray:
    """``f_e(q)`` in Å at spatial frequency ``q = 1/d`` (Å⁻¹): ``Σ a_i exp(-b_i q² / 4)``.

    Parameters
    ----------
    z : int
        Atomic number (Peng 1996 coefficients, :func:`scattering_coefficients`).
    q_inv_a : np.ndarray
        Spatial frequencies ``q`` (Å⁻¹), any shape.

    Returns
    -------
    np.ndarray
        ``f_e(q)`` in Å, same shape as ``q_inv_a``.
    """
    a, b = scattering_coefficients(z)
    q2 = np.asarray(q_inv_a, float) ** 2
    return sum(ai * np.exp(-bi * q2 / 4.0) for ai, bi in zip(a, b))


def potential_integral_v_a3(atoms: AtomSet) -> float:
    """Integral of the potential over space, ``K Σ (f_e(0) + n_h f_H(0)) * occupancy`` (V·Å³)."""
    f0 = {int(z): float(scattering_coefficients(z)[0].sum()) for z in np.unique(atoms.z)}
    f0_h = float(scattering_coefficients(1)[0].sum())
    per_atom = np.array([f0[int(z)] for z in atoms.z]) + atoms.n_h * f0_h
    return K_V_A2 * float((per_atom * atoms.occupancy).sum())


def bulk_protein_potential_v() -> float:
    """Mean potential of bulk protein (V): reference composition at 1.35 g/cm³ (about 7.9 V)."""
    f0 = sum(n * scattering_coefficients(gemmi.Element(e).atomic_number)[0].sum()
             for e, n in _REFERENCE_RESIDUE.items())
    mass = sum(n * gemmi.Element(e).weight for e, n in _REFERENCE_RESIDUE.items())
    return K_V_A2 * f0 / mass * PROTEIN_DENSITY_DA_A3


WATER_MASS_DA = 18.015          # H2O


def water_potential_v(density_g_cm3: float) -> float:
    """Mean potential (V) of water at ``density_g_cm3`` in the isolated-atom model.

    ``K (f_O(0) + 2 f_H(0)) n`` with Peng's factors (the same as the templates') and ``n`` the
    molecules per Å³; vitreous ice at 0.93 g/cm³ gives 4.53 V. It depends on nothing but the
    density, in particular not on the structure library.
    """
    if density_g_cm3 < 0:
        raise ValueError(f"water density must be >= 0 g/cm³, got {density_g_cm3}")
    f0 = scattering_coefficients(8)[0].sum() + 2.0 * scattering_coefficients(1)[0].sum()
    molecules_per_a3 = density_g_cm3 * 0.602214076 / WATER_MASS_DA
    return K_V_A2 * float(f0) * molecules_per_a3


def box_voxels(radius_a: float, voxel_size_a: float, pad_voxels: int) -> int:
    """Even edge of a cubic box holding a sphere of ``radius_a`` around voxel ``n // 2`` plus padding."""
    return 2 * (math.ceil(radius_a / voxel_size_a) + pad_voxels + 1)


def fine_factor(voxel_size_a: float, fine_spacing_a: float) -> int:
    """Oversampling of the fine grid: the smallest integer >= 3 with ``voxel / f <= fine_spacing_a``.

    At least 3, because the band is kept up to Nyquist: with f = 2 the 4-point spreading
    kernel's error near the target Nyquist reaches 1 % of the peak (measured on 400 atoms).
    """
    return max(3, math.ceil(voxel_size_a / fine_spacing_a - 1e-9))


def _frequencies(n: int, voxel_size_a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcastable (qz, qy, qx) of an ``rfftn`` of an n³ grid (Å⁻¹)."""
    full = np.fft.fftfreq(n, d=voxel_size_a)
    half = np.fft.rfftfreq(n, d=voxel_size_a)
    return full[:, None, None], full[None, :, None], half[None, None, :]


def antialias_profile(rel: np.ndarray) -> np.ndarray:
    """The isotropic band limit at ``rel`` = frequency / Nyquist: 1 below ``BAND_LIMIT_NYQUIST``, else 0.

    Also used when a map is shrunk (:func:`generator.structures.maps.fourier_resize`).

    Parameters
    ----------
    rel : np.ndarray
        Frequency as a fraction of Nyquist (dimensionless), any shape.

    Returns
    -------
    np.ndarray
        The window (float64), same shape as ``rel``, 0 or 1.
    """
    return (np.asarray(rel) < BAND_LIMIT_NYQUIST).astype(np.float64)


def antialias_window(n: int, voxel_size_a: float) -> np.ndarray:
    """The isotropic band limit on the rfft grid of an n³ box: 1 below Nyquist, 0 from Nyquist on."""
    qz, qy, qx = _frequencies(n, voxel_size_a)
    return antialias_profile(np.sqrt(qz ** 2 + qy ** 2 + qx ** 2) * (2.0 * voxel_size_a))


def _crop_index(n: int, m: int) -> np.ndarray:
    """Indices of the n lowest frequencies (fft order) inside an m-point fft axis."""
    k = np.fft.fftfreq(n, d=1.0 / n).astype(int)
    return np.where(k >= 0, k, m + k)


def _spread(u: np.ndarray, weights: list[np.ndarray], groups: list[np.ndarray], n_groups: int,
            m: int) -> np.ndarray:
    """Spread points (fine-grid units, columns z, y, x) with a Gaussian kernel: (n_groups, m, m, m).

    ``weights[i]`` and ``groups[i]`` give each point's weight and grid in pass ``i``; the
    kernel is computed once and deposited once per pass (heavy atoms, then hydrogens).
    """
    offsets = np.arange(_SPREAD_POINTS) - (_SPREAD_POINTS // 2 - 1)
    centre = np.floor(u).astype(np.int64)
    d = centre[:, :, None] + offsets[None, None, :] - u[:, :, None]            # (N, 3, 4)
    w = np.exp(-0.5 * (d / SPREAD_SIGMA) ** 2)
    w = (w / w.sum(axis=2, keepdims=True)).astype(np.float32)    # each atom deposits exactly its weight
    idx = np.mod(centre[:, :, None] + offsets[None, None, :], m)               # periodic box
    cell = ((idx[:, 0, :, None, None] * m + idx[:, 1, None, :, None]) * m + idx[:, 2, None, None, :])
    kern = w[:, 0, :, None, None] * w[:, 1, None, :, None] * w[:, 2, None, None, :]
    grid = np.zeros(n_groups * m ** 3, np.float32)
    for weight, group in zip(weights, groups):
        if (weight != 0).all():
            c, k_, g, w_ = cell, kern, group, weight
        else:
            sel = weight != 0
            c, k_, g, w_ = cell[sel], kern[sel], group[sel], weight[sel]
        flat = (c + (g * m ** 3)[:, None, None, None]).ravel()
        grid += np.bincount(flat, weights=(k_ * w_[:, None, None, None]).ravel(), minlength=n_groups * m ** 3)
    return grid.reshape(n_groups, m, m, m)


def potential_from_atoms(atoms: AtomSet, voxel_size_a: float, *, fine_spacing_a: float = 2.5,
                         pad_voxels: int = 3, n_voxels: int | None = None,
                         centre_a: np.ndarray | None = None) -> np.ndarray:
    """Potential (V, float32, ``[z, y, x]``) of ``atoms`` in a cubic box, centre of mass on voxel ``n // 2``.

    Parameters
    ----------
    atoms : AtomSet
        The atoms (positions in Å, with implicit hydrogens and occupancies).
    voxel_size_a : float
        Voxel size of the result (Å), > 0.
    fine_spacing_a : float
        Largest spacing of the fine grid the atoms are spread on (Å); the grid oversamples the
        voxels at least three times (:func:`fine_factor`).
    pad_voxels : int
        Margin beyond the bounding radius when the box is sized by :func:`box_voxels`.
    n_voxels : int or None
        Box edge in voxels; None: :func:`box_voxels` of the bounding radius.
    centre_a : np.ndarray or None
        ``(3,)`` x y z (Å) put on voxel ``n // 2`` instead of the centre of mass.

    Returns
    -------
    np.ndarray
        ``(n, n, n)`` float32 potential in V, ``[z, y, x]``, band-limited by :func:`antialias_window`.
    """
    if voxel_size_a <= 0:
        raise ValueError(f"voxel size must be > 0 Å, got {voxel_size_a}")
    centre = atoms.centre_of_mass_a() if centre_a is None else np.asarray(centre_a, float)
    rel = atoms.xyz_a - centre
    radius = float(np.sqrt((rel ** 2).sum(axis=1)).max()) if len(atoms) else 0.0
    n = n_voxels or box_voxels(radius, voxel_size_a, pad_voxels)
    f = fine_factor(voxel_size_a, fine_spacing_a)
    m, h = n * f, voxel_size_a / f

    elements = [int(z) for z in np.unique(atoms.z)]
    group = np.searchsorted(elements, atoms.z)
    pos = (rel + (n // 2) * voxel_size_a)[:, ::-1] / h                   # z, y, x in fine units
    weights, groups = [atoms.occupancy.astype(np.float32)], [group]
    if atoms.n_h.any():                                   # implicit hydrogens sit at their parent atom
        weights.append((atoms.n_h * atoms.occupancy).astype(np.float32))
        groups.append(np.full(len(atoms), len(elements)))
        elements.append(1)
    grids = _spread(pos, weights, groups, len(elements), m)
    # Fourier transform axis by axis, keeping only the target grid's frequencies after each axis
    keep = _crop_index(n, m)
    spectra = scipy.fft.rfft(grids.astype(np.float32), axis=3)[..., : n // 2 + 1]
    spectra = scipy.fft.fft(spectra, axis=2)[:, :, keep]
    spectra = scipy.fft.fft(spectra, axis=1)[:, keep]

    qz, qy, qx = _frequencies(n, voxel_size_a)
    q2 = qz ** 2 + qy ** 2 + qx ** 2
    kernel = np.exp(-2.0 * np.pi ** 2 * (SPREAD_SIGMA * h) ** 2 * q2)
    total = np.zeros(spectra.shape[1:], complex)
    for g, z in enumerate(elements):
        total += scattering_factor(z, np.sqrt(q2)) * spectra[g]
    total *= antialias_window(n, voxel_size_a) / kernel
    # grids hold points per fine voxel; h^3 turns the sum into an integral, / voxel^3 into a voxel mean
    vol = np.fft.irfftn(total, s=(n, n, n), axes=(0, 1, 2)) * (K_V_A2 / voxel_size_a ** 3)
    return vol.astype(np.float32)
