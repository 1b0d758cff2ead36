"""Reading models: biological assembly, waters and ligands, implicit hydrogens, bad input."""

import gzip

import pytest
from structures_toys import BIOMT_C2, toy_pdb

from generator.structures.assembly import prepare_model
from generator.structures.atoms import AMINO_ACID_H, atoms_from_model
from generator.structures.sources import read_structure_file
from tomobench.errors import InputError

GLY_DA = 2 * 12.011 + 14.007 + 15.999 + 3 * 1.008    # N CA C O + H on N, 2 H on CA


def _read(tmp_path, text, name="toy.pdb"):
    path = tmp_path / name
    path.write_text(text)
    return read_structure_file(path), path


def test_glycine_mass_counts_implicit_hydrogens(tmp_path):
    st, path = _read(tmp_path, toy_pdb(n_residues=5, chains="A"))
    atoms = atoms_from_model(prepare_model(st, path=path), path=path)
    assert len(atoms) == 20
    assert atoms.mass_kda * 1000 == pytest.approx(5 * GLY_DA, rel=1e-4)
    assert AMINO_ACID_H["GLY"]["CA"] == 2 and AMINO_ACID_H["PRO"]["N"] == 0


def test_biomt_doubling_doubles_the_mass(tmp_path):
    st, path = _read(tmp_path, toy_pdb(chains="AB", remark350=BIOMT_C2))
    bio = atoms_from_model(prepare_model(st, path=path))
    asym = atoms_from_model(prepare_model(st, assembly="asymmetric", path=path))
    assert len(bio) == 2 * len(asym)
    assert bio.mass_kda == pytest.approx(2 * asym.mass_kda, rel=1e-9)
    by_id = atoms_from_model(prepare_model(st, assembly="1", path=path))
    assert len(by_id) == len(bio)


def test_missing_assembly_id_is_named(tmp_path):
    st, path = _read(tmp_path, toy_pdb(remark350=BIOMT_C2))
    with pytest.raises(InputError, match="assembly '7' does not exist.*'1'"):
        prepare_model(st, assembly="7", path=path)


def test_waters_dropped_by_default(tmp_path):
    st, path = _read(tmp_path, toy_pdb(chains="A", waters=4))
    dry = atoms_from_model(prepare_model(st, path=path))
    wet = atoms_from_model(prepare_model(st, keep_waters=True, path=path))
    assert len(wet) == len(dry) + 4


def test_gzipped_mmcif_round_trip(tmp_path):
    st, _ = _read(tmp_path, toy_pdb(chains="AB", remark350=BIOMT_C2))
    st.setup_entities()
    cif = tmp_path / "toy.cif.gz"
    with gzip.open(cif, "wt") as fh:
        fh.write(st.make_mmcif_document().as_string())
    again = read_structure_file(cif)
    n_asymmetric = len(atoms_from_model(prepare_model(again, assembly="asymmetric")))
    assert len(atoms_from_model(prepare_model(again))) == 2 * n_asymmetric


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_structure_file(tmp_path / "nope.pdb")
    empty = tmp_path / "empty.pdb"
    empty.write_text("HEADER    NOTHING\nEND\n")
    with pytest.raises(InputError, match="no atoms"):
        read_structure_file(empty)
    garbage = tmp_path / "bad.cif"
    garbage.write_text("data_x\nloop_\n_atom_site.id\n'unterminated\n")
    with pytest.raises(InputError, match=str(garbage.name)):
        read_structure_file(garbage)


def test_unknown_element_is_named(tmp_path):
    st, path = _read(tmp_path, toy_pdb(chains="A", element_override="Qq"))
    with pytest.raises(InputError, match="unknown element"):
        atoms_from_model(prepare_model(st, path=path), path=path)


def test_only_ligands_means_no_atoms(tmp_path):
    from structures_toys import atom_line

    lines = [atom_line(i + 1, f"C{i + 1}", "LIG", "A", 1, (1.5 * i, 0.0, 0.0), "C", "HETATM") for i in range(5)]
    st, path = _read(tmp_path, "\n".join(lines) + "\nEND\n")
    with pytest.raises(InputError, match="no atoms"):
        atoms_from_model(prepare_model(st, path=path), path=path)
    assert len(atoms_from_model(prepare_model(st, keep_ligands=True, path=path))) > 0
