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
    # two carbons and a third one: equal weights, so the potential's centroid is the centre of mass
    xyz = np.array([[0.0, 0.0, 0.0], [31.0, 7.0, -12.0], [5.0, -9.0, 4.0]])
    atoms = AtomSet(xyz, np.array([6, 6, 6]), np.zeros(3, int), np.ones(3))
    voxel = 3.0
    vol = potential_from_atoms(atoms, voxel).astype(float)
    n = vol.shape[0]
    zz, yy, xx = np.indices(vol.shape)
    centroid = np.array([(vol * a).sum() for a in (xx, yy, zz)]) / vol.sum()
    assert np.allclose(centroid, n // 2, atol=0.1)     # sampled band-limited map: centroid to 0.1 voxel
    # and the second atom sits at its offset from the centre of mass
    offset = (xyz[1] - xyz.mean(axis=0)) / voxel
    idx = tuple(int(i) for i in np.rint(offset[::-1]) + n // 2)
    window = vol[tuple(slice(i - 1, i + 2) for i in idx)]
    assert window.argmax() == 13


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
