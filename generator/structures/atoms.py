"""Atoms as arrays: positions, elements, implicit hydrogens, masses.

:func:`atoms_from_model` turns a gemmi model into an :class:`AtomSet` (the one
place that loops over gemmi atoms). Hydrogens are implicit: each heavy atom
carries the number of hydrogens bonded to it (standard amino-acid residues at
pH 7 from :data:`AMINO_ACID_H`, else an element default), and explicit
hydrogens in the file are dropped so that they are never counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from tomobench.errors import InputError

# Hydrogens per heavy atom of the standard amino acids ("ATOM:nH"); backbone N 1 (PRO 0), CA 1, C 0, O 0.
_SIDE = {
    "ALA": "CB:3", "ARG": "CB:2 CG:2 CD:2 NE:1 NH1:2 NH2:2", "ASN": "CB:2 ND2:2", "ASP": "CB:2",
    "CYS": "CB:2 SG:1", "GLN": "CB:2 CG:2 NE2:2", "GLU": "CB:2 CG:2", "GLY": "CA:2",
    "HIS": "CB:2 ND1:1 CD2:1 CE1:1", "ILE": "CB:1 CG1:2 CG2:3 CD1:3", "LEU": "CB:2 CG:1 CD1:3 CD2:3",
    "LYS": "CB:2 CG:2 CD:2 CE:2 NZ:3", "MET": "CB:2 CG:2 CE:3", "PHE": "CB:2 CD1:1 CD2:1 CE1:1 CE2:1 CZ:1",
    "PRO": "N:0 CB:2 CG:2 CD:2", "SER": "CB:2 OG:1", "THR": "CB:1 OG1:1 CG2:3",
    "TRP": "CB:2 CD1:1 NE1:1 CE3:1 CZ2:1 CZ3:1 CH2:1", "TYR": "CB:2 CD1:1 CD2:1 CE1:1 CE2:1 OH:1",
    "VAL": "CB:1 CG1:3 CG2:3",
}
AMINO_ACID_H: dict[str, dict[str, int]] = {}
for _res, _spec in _SIDE.items():
    _table = {"N": 1, "CA": 1, "C": 0, "O": 0, "OXT": 0}
    _table.update({a: int(n) for a, n in (item.split(":") for item in _spec.split())})
    AMINO_ACID_H[_res] = _table
# Hydrogens per heavy atom elsewhere (nucleotides, ligands, pseudo-atoms): a protein-like average.
ELEMENT_H = {"C": 1, "N": 1, "O": 0, "S": 0}

H_MASS_DA = gemmi.Element("H").weight


@dataclass(frozen=True)
class AtomSet:
    """Heavy atoms of one complex.

    ``xyz_a``: (N, 3) positions in Å (x, y, z); ``z``: atomic numbers; ``n_h``: implicit
    hydrogens per atom; ``occupancy``: weights in [0, 1] (1 for atoms read from files: one
    conformer of alternative locations is kept whole).
    """

    xyz_a: np.ndarray
    z: np.ndarray
    n_h: np.ndarray
    occupancy: np.ndarray

    def __len__(self) -> int:
        return len(self.z)

    @property
    def masses_da(self) -> np.ndarray:
        """Mass of each atom with its hydrogens, times its occupancy (Da)."""
        weights = np.array([gemmi.Element(int(z)).weight for z in range(max(int(self.z.max()), 1) + 1)])
        return (weights[self.z] + self.n_h * H_MASS_DA) * self.occupancy

    @property
    def mass_kda(self) -> float:
        """Total mass of the atoms with their hydrogens, weighted by occupancy (kDa)."""
        return float(self.masses_da.sum() / 1000.0)

    def centre_of_mass_a(self) -> np.ndarray:
        """Mass-weighted centre of the atoms, ``(3,)`` x y z in Å."""
        m = self.masses_da
        return (self.xyz_a * m[:, None]).sum(axis=0) / m.sum()


def atoms_from_model(model: gemmi.Model, *, implicit_hydrogens: bool = True,
                     path: str | Path | None = None) -> AtomSet:
    """Collect the heavy atoms of ``model`` (first conformer of alternative locations)."""
    xyz, zs, nh = [], [], []
    unknown = set()
    for chain in model:
        for res in chain:
            table = AMINO_ACID_H.get(res.name)
            seen = set()
            for atom in res:
                if atom.name in seen:        # an alternative conformation of an atom already taken
                    continue
                seen.add(atom.name)
                z = atom.element.atomic_number
                if z == 1:
                    continue
                if z == 0:
                    unknown.add(f"{atom.element.name or '?'} ({res.name} {atom.name})")
                    continue
                p = atom.pos
                xyz.append((p.x, p.y, p.z))
                zs.append(z)
                if not implicit_hydrogens:
                    nh.append(0)
                elif table is not None:
                    nh.append(table.get(atom.name, 0))
                else:
                    nh.append(ELEMENT_H.get(atom.element.name, 0))
    if unknown:
        raise InputError(f"unknown element symbol(s) {sorted(unknown)[:5]}; fix the element column "
                         "(PDB columns 77-78, mmCIF type_symbol)", path)
    if not zs:
        raise InputError("the model has no atoms (after dropping waters/ligands); "
                         "check the file or set keep_ligands", path)
    # One conformer is kept whole, so every kept atom counts fully (occupancy 1).
    return AtomSet(np.asarray(xyz, float), np.asarray(zs, np.int64), np.asarray(nh, np.int64), np.ones(len(zs)))
