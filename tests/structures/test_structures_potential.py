"""The electron scattering potential: integral, symmetry, centring, independence of the fine grid."""

import numpy as np
import pytest

from generator.structures.atoms import AtomSet
from generator.structures.potential import (
    K_V_A2,
    bulk_protein_potential_v,
    potential_from_atoms,
    potential_integral_v_a3,
    scattering_factor,
)

# Peng et al. (1996) five-Gaussian a_i of carbon and hydrogen (Å), typed from the table
CARBON_A = (0.0893, 0.2563, 0.7570, 1.0487, 0.3575)
HYDROGEN_A = (0.0349, 0.1201, 0.1970, 0.0573, 0.1195)


def one_atom(z=6, xyz=(0.0, 0.0, 0.0), n_h=0):
    return AtomSet(np.array([xyz], float), np.array([z]), np.array([n_h]), np.ones(1))


@pytest.mark.parametrize("voxel", [10.0, 4.0, 1.5])
def test_one_atom_integral_matches_scattering_factor(voxel):
    vol = potential_from_atoms(one_atom(), voxel)
    assert vol.sum() * voxel ** 3 == pytest.approx(K_V_A2 * sum(CARBON_A), rel=1e-3)


def test_implicit_hydrogens_add_their_scattering():
    vol = potential_from_atoms(one_atom(n_h=3), 5.0)
    expected = K_V_A2 * (sum(CARBON_A) + 3 * sum(HYDROGEN_A))
    assert vol.sum() * 125.0 == pytest.approx(expected, rel=1e-3)
    assert potential_integral_v_a3(one_atom(n_h=3)) == pytest.approx(expected, rel=1e-3)


def test_one_atom_potential_is_radially_symmetric_and_centred():
    vol = potential_from_atoms(one_atom(), 2.0, pad_voxels=4)
    n = vol.shape[0]
    c = n // 2
    assert np.unravel_index(vol.argmax(), vol.shape) == (c, c, c)
    # the 6 face neighbours, the 12 edge neighbours and the 8 corners each have one value
    for offsets in ([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)],
                    [(1, 1, 0), (-1, 1, 0), (0, -1, 1), (1, 0, -1), (-1, -1, 0), (0, 1, 1)],
                    [(1, 1, 1), (-1, -1, -1), (1, -1, 1), (-1, 1, -1)]):
        values = [vol[c + dz, c + dy, c + dx] for dz, dy, dx in offsets]
        assert np.ptp(values) < 2e-3 * vol.max()       # kernel truncation at 4 sigma
    # the peak falls off to its neighbours (further out, the band limit makes small ripples)
    assert vol[c, c, c] > vol[c, c, c + 1] > 0
    assert abs(vol[c, c, c + 3]) < 0.05 * vol[c, c, c]


def test_centre_of_mass_on_voxel_n_over_2():
    # two carbons and a third one: equal weights, so the atoms' peaks centre on the centre of mass
    xyz = np.array([[0.0, 0.0, 0.0], [31.0, 7.0, -12.0], [5.0, -9.0, 4.0]])
    atoms = AtomSet(xyz, np.array([6, 6, 6]), np.zeros(3, int), np.ones(3))
    voxel = 3.0
    vol = potential_from_atoms(atoms, voxel).astype(float)
    n = vol.shape[0]
    zz, yy, xx = np.indices(vol.shape)
    # The centroid is taken over the voxels within 1.5 voxels of an atom: the band limit at Nyquist
    # rings with tails decaying as 1/r², so a whole-box first moment does not converge.
    expected = (xyz - xyz.mean(axis=0)) / voxel + n // 2                     # x, y, z per atom
    near = np.zeros(vol.shape, bool)
    for x, y, z in expected:
        near |= (xx - x) ** 2 + (yy - y) ** 2 + (zz - z) ** 2 <= 1.5 ** 2
    weights = vol * near
    centroid = np.array([(weights * a).sum() for a in (xx, yy, zz)]) / weights.sum()
    assert np.allclose(centroid, n // 2, atol=0.1)
    # and the second atom sits at its offset from the centre of mass
    idx = tuple(int(i) for i in np.rint(expected[1][::-1]))
    window = vol[tuple(slice(i - 1, i + 2) for i in idx)]
    assert window.argmax() == 13


def test_band_limit_keeps_the_ctf_band_below_nyquist():
    # One carbon atom on a voxel centre: its spectrum must be K f_e(q) / voxel³ at every frequency
    # below Nyquist. At 10 Å and 3 µm underfocus (300 kV, Cs 2.7 mm) the CTF's last lobe below
    # Nyquist runs from its zero at 24.6 Å to 20 Å; that band must be there whole.
    from generator.microscope.ctf import ctf_zeros_1d

    voxel = 10.0
    vol = potential_from_atoms(one_atom(), voxel, n_voxels=32).astype(float)
    n = vol.shape[0]
    spectrum = np.abs(np.fft.rfftn(np.fft.ifftshift(vol)))
    qz = np.fft.fftfreq(n, voxel)[:, None, None]
    qx = np.fft.rfftfreq(n, voxel)[None, None, :]
    q = np.sqrt(qz ** 2 + qz.transpose(1, 0, 2) ** 2 + qx ** 2)
    expected = K_V_A2 * scattering_factor(6, q) / voxel ** 3
    last_zero = ctf_zeros_1d(5, 3.0e4, 300.0, 2.7, 0.08)
    last_zero = last_zero[last_zero < 1 / (2 * voxel)][-1]
    assert 1 / last_zero == pytest.approx(24.6, abs=0.1)
    band = (q >= last_zero) & (q < 0.999 / (2 * voxel))
    assert band.sum() > 1000
    # 2 %: the 4-point spreading kernel's truncation lifts the spectrum by ~1 % at Nyquist (2.5 Å grid);
    # a taper would show here as a deficit (the old raised cosine from 0.6 Nyquist kept < 45 %)
    np.testing.assert_allclose(spectrum[band], expected[band], rtol=0.02)
    assert spectrum[q > 1.001 / (2 * voxel)].max() < 1e-6 * expected.max()     # and nothing above it


def test_result_does_not_depend_on_the_fine_grid():
    rng = np.random.default_rng(3)
    atoms = AtomSet(rng.normal(0, 12, (400, 3)), rng.choice([6, 7, 8], 400), rng.integers(0, 3, 400), np.ones(400))
    vols = [potential_from_atoms(atoms, 8.0, fine_spacing_a=s) for s in (1.0, 2.5, 4.0)]
    for v in vols[1:]:
        assert np.abs(v - vols[0]).max() < 0.01 * vols[0].max()


def test_scattering_factor_and_bulk_potential():
    assert scattering_factor(6, np.array(0.0)) == pytest.approx(sum(CARBON_A), rel=1e-4)
    assert scattering_factor(6, np.array(0.5)) < scattering_factor(6, np.array(0.1))
    assert 7.0 < bulk_protein_potential_v() < 9.0


def test_bad_voxel_size():
    with pytest.raises(ValueError):
        potential_from_atoms(one_atom(), 0.0)
