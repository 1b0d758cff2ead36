"""From a parsed structure to the model of the complex: assembly, waters, ligands.

The biological assembly (PDB REMARK 350 BIOMT / mmCIF ``pdbx_struct_assembly``) is
built with gemmi by default; ``asymmetric`` keeps the deposited asymmetric unit;
any other value names an assembly id of the file. Only the first model of a
multi-model file is used.
"""

from __future__ import annotations

from pathlib import Path

import gemmi

from tomobench.errors import InputError


def _drop_ligands(model: gemmi.Model) -> None:
    for chain in model:
        for i in reversed(range(len(chain))):
            if chain[i].entity_type in (gemmi.EntityType.NonPolymer, gemmi.EntityType.Branched):
                del chain[i]


def select_assembly(st: gemmi.Structure, assembly: str, path: str | Path | None = None) -> gemmi.Assembly | None:
    """The gemmi assembly that ``assembly`` asks for (None = asymmetric unit)."""
    if assembly == "asymmetric":
        return None
    if assembly == "biological":
        return st.assemblies[0] if len(st.assemblies) else None
    for asm in st.assemblies:
        if asm.name == assembly:
            return asm
    names = [a.name for a in st.assemblies]
    raise InputError(f"assembly {assembly!r} does not exist in this file (it has {names or 'none'}); "
                     "use 'biological', 'asymmetric' or one of those ids", path)


def prepare_model(st: gemmi.Structure, *, assembly: str = "biological", keep_waters: bool = False,
                  keep_ligands: bool = False, path: str | Path | None = None) -> gemmi.Model:
    """The model of the complex as it should be imaged (a new gemmi.Model; ``st`` is not changed)."""
    if len(st) == 0:
        raise InputError("the file holds no model (no ATOM/HETATM records)", path)
    st = st.clone()
    for i in reversed(range(1, len(st))):
        del st[i]
    st.setup_entities()
    st.remove_hydrogens()                 # hydrogens are implicit (atoms.py)
    if not keep_waters:
        st.remove_waters()
    if not keep_ligands:
        _drop_ligands(st[0])
    st.remove_empty_chains()
    asm = select_assembly(st, assembly, path)
    if asm is None:
        return st[0].clone()
    try:
        return gemmi.make_assembly(asm, st[0], gemmi.HowToNameCopiedChain.AddNumber)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"cannot build assembly {asm.name!r} ({exc}); try assembly: asymmetric", path) from None
