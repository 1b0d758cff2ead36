"""The built-in library: deterministic, nominal masses, SHREC-like range, the full build."""

import hashlib

import numpy as np
import pytest

from generator.structures import StructureParams, build_library
from generator.structures.assembly import prepare_model
from generator.structures.atoms import atoms_from_model
from generator.structures.builtin import BUILTIN_SPECS, build_complex, builtin_structures
from generator.structures.sources import PDB_ID


def _checksum(st):
    atoms = atoms_from_model(prepare_model(st))
    return hashlib.sha256(atoms.xyz_a.tobytes() + atoms.z.tobytes()).hexdigest()


def test_same_seed_same_atoms_other_seed_other_atoms():
    spec = BUILTIN_SPECS[3]
    a = _checksum(build_complex(spec, np.random.default_rng([0, 3])))
    b = _checksum(build_complex(spec, np.random.default_rng([0, 3])))
    c = _checksum(build_complex(spec, np.random.default_rng([1, 3])))
    assert a == b != c


def test_masses_within_five_percent_and_names():
    specs = builtin_structures(seed=0)
    assert len(specs) == 12
    masses = []
    for spec, st in specs:
        atoms = atoms_from_model(prepare_model(st))
        assert atoms.mass_kda == pytest.approx(spec.mass_kda, rel=0.05), spec.name
        assert not PDB_ID.match(spec.name) and spec.name.endswith(f"{spec.mass_kda}kda")
        masses.append(atoms.mass_kda)
    assert min(masses) < 50 and max(masses) > 1800          # the SHREC 2020 range (about 40 kDa to 2 MDa)
    # symmetric complexes really come from their assembly: the asymmetric unit is a fraction
    spec, st = specs[-1]
    n_asymmetric = len(atoms_from_model(prepare_model(st, assembly="asymmetric")))
    assert n_asymmetric * 16 == len(atoms_from_model(prepare_model(st)))


@pytest.fixture(scope="module")
def default_library():
    return build_library(StructureParams())


def test_default_library(default_library):
    lib = default_library
    table = lib.classes.table
    assert list(table["label"]) == list(range(1, 13))
    assert table["mass_kda"].is_monotonic_increasing
    assert set(table["size_group"]) == {"small", "medium", "large"}
    assert table["sphericity"].between(0.45, 0.95).all()
    assert 0.45 < table["sphericity"].min() < 0.6 and table["sphericity"].max() > 0.85
    assert (table["kind"] == "protein").all() and table["scored"].all()
    for name in lib.classes.names:
        t = lib.templates[name]
        n = t.shape[0]
        assert t.shape == (n, n, n) and t.dtype == np.float32 and n % 2 == 0
        balls = lib.balls[name]
        assert len(balls) >= 3
        # the balls reach at least the farthest atom; the box holds the bounding sphere
        reach = (np.sqrt((balls[:, :3] ** 2).sum(axis=1)) + balls[:, 3]).max() / 10.0
        radius_nm = lib.classes.row(name)["radius_nm"]
        assert reach >= radius_nm * (1 - 1e-9)
        assert radius_nm * 10.0 < (n // 2 - 1) * lib.voxel_size_a


def test_default_library_is_deterministic(default_library):
    # rebuilding two classes the way build_library does gives bit-identical templates
    from generator.structures.potential import potential_from_atoms

    for i in (0, 7):
        spec = BUILTIN_SPECS[i]
        atoms = atoms_from_model(prepare_model(build_complex(spec, np.random.default_rng([0, i]))))
        again = potential_from_atoms(atoms, default_library.voxel_size_a)
        digest = hashlib.sha256(again.tobytes()).hexdigest()
        assert digest == hashlib.sha256(default_library.templates[spec.name].tobytes()).hexdigest()


def _atom_counts_per_bin(atoms, bin_a):
    idx = np.floor((atoms.xyz_a - atoms.xyz_a.min(axis=0)) / bin_a).astype(np.int64)
    _, counts = np.unique(idx, axis=0, return_counts=True)
    return counts


@pytest.mark.parametrize("i", [i for i, s in enumerate(BUILTIN_SPECS) if len(s.rotations) > 1])
def test_symmetry_copies_do_not_overlap(i):
    # counted from the assembled atoms (independent of the sampler): no (12 Å)³ cell holds more
    # atoms than 1.3x protein density (measured: at most 1.16x); overlapping copies (the old
    # library) gave 1.3-4.2x for the rings and barrels
    from generator.structures.builtin import mean_atom_mass_da
    from generator.structures.potential import PROTEIN_DENSITY_DA_A3

    spec = BUILTIN_SPECS[i]
    atoms = atoms_from_model(prepare_model(build_complex(spec, np.random.default_rng([0, i]))))
    bin_a = 12.0
    expected = bin_a ** 3 * PROTEIN_DENSITY_DA_A3 / mean_atom_mass_da()      # ~103 atoms per full cell
    counts = _atom_counts_per_bin(atoms, bin_a)
    assert counts.max() <= 1.3 * expected, (spec.name, counts.max(), expected)


def test_no_voxel_above_one_and_a_half_bulk_protein(default_library):
    from generator.structures.potential import bulk_protein_potential_v

    limit = 1.5 * bulk_protein_potential_v()                  # 11.9 V
    peaks = {name: float(t.max()) for name, t in default_library.templates.items()}
    assert max(peaks.values()) <= limit, peaks
    # and the large complexes are really filled at protein density: a plateau near bulk protein
    big = default_library.templates["double_ring_d8_2000kda"]
    assert np.percentile(big[big > 1.59], 90) > 0.8 * bulk_protein_potential_v()


def test_fundamental_domain_tiles_the_group():
    # every point belongs to exactly one image of the Dirichlet domain (D8: 16 images)
    from generator.structures.builtin import dihedral, domain_normals

    rots = np.asarray(dihedral(8))
    centre = np.array([1.4, 0.2, 1.0])
    normals = domain_normals(rots, centre)
    pts = np.random.default_rng(0).normal(size=(5000, 3))
    owners = np.zeros(len(pts), int)
    for r in rots:        # p is in the image R F when R^T p is in F
        owners += ((pts @ r) @ normals.T <= 0).all(axis=1)
    assert (owners == 1).all()
    with pytest.raises(ValueError, match="symmetry axis"):
        domain_normals(rots, np.array([0.0, 0.0, 1.0]))      # on the 8-fold axis: no domain
