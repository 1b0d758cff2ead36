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
    assert len(atoms_from_model(prepare_model(st, assembly="asymmetric"))) * 16 == len(atoms_from_model(prepare_model(st)))


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
