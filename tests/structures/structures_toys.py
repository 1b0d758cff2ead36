"""Toy structures for the structure-library tests, built in code (no PDB files in the repository)."""

from __future__ import annotations

import numpy as np

BIOMT_C2 = """REMARK 350 BIOMOLECULE: 1
REMARK 350 APPLY THE FOLLOWING TO CHAINS: A, B
REMARK 350   BIOMT1   1  1.000000  0.000000  0.000000        0.00000
REMARK 350   BIOMT2   1  0.000000  1.000000  0.000000        0.00000
REMARK 350   BIOMT3   1  0.000000  0.000000  1.000000        0.00000
REMARK 350   BIOMT1   2 -1.000000  0.000000  0.000000       60.00000
REMARK 350   BIOMT2   2  0.000000 -1.000000  0.000000        0.00000
REMARK 350   BIOMT3   2  0.000000  0.000000  1.000000        0.00000
"""


def atom_line(serial: int, name: str, resname: str, chain: str, resseq: int, xyz, element: str,
              record: str = "ATOM") -> str:
    x, y, z = xyz
    return (f"{record:<6}{serial:5d} {name:<4} {resname:>3} {chain}{resseq:4d}    "
            f"{x:8.3f}{y:8.3f}{z:8.3f}{1.0:6.2f}{20.0:6.2f}          {element:>2}")


def toy_pdb(n_residues: int = 6, chains: str = "AB", remark350: str = "", seed: int = 0,
            waters: int = 0, element_override: str | None = None) -> str:
    """Glycine chains (N CA C O per residue) along x, chains apart in y; optional waters and BIOMT."""
    rng = np.random.default_rng(seed)
    lines = [remark350.rstrip("\n")] if remark350 else []
    serial = 1
    for c, chain in enumerate(chains):
        for r in range(n_residues):
            base = np.array([3.8 * r, 12.0 * c, 0.0])
            for name, el, off in (("N", "N", (0, 0, 0)), ("CA", "C", (1.45, 0, 0)), ("C", "C", (2.4, 1.2, 0)),
                                  ("O", "O", (2.4, 2.4, 0.3))):
                el = element_override or el
                lines.append(atom_line(serial, name, "GLY", chain, r + 1, base + off + rng.normal(0, 0.1, 3), el))
                serial += 1
        lines.append("TER")
    for w in range(waters):
        lines.append(atom_line(serial, "O", "HOH", "W", w + 1, (30.0 + 3 * w, -20.0, 5.0), "O", "HETATM"))
        serial += 1
    lines.append("END")
    return "\n".join(lines) + "\n"
