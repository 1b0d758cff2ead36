"""The built-in library: 12 procedural pseudo-atomic complexes (offline, deterministic).

Each complex is an asymmetric unit of pseudo-atoms at protein density (1.35 g/cm³),
with a protein-like element mix (C:N:O:S = 127:34:38:1, implicit hydrogens as for
any residue outside the amino-acid table), plus a symmetry (cyclic rings, stacked
rings, dihedral double rings) stored as a gemmi biological assembly. The shape of
the complex is the union of all symmetry copies of the unit's ellipsoids; the unit
is the part of that union in one fundamental (Dirichlet) domain of the point group,
so copies never overlap and no voxel holds more than one copy's density
(:func:`sample_unit`). They are gemmi structures, so they flow through
exactly the same path as PDB entries (assembly, potential, metadata, balls).
Names say shape and nominal mass; none is a real PDB id. Masses span 40 kDa to
2 MDa, as the SHREC 2020 classes do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gemmi
import numpy as np

from generator.structures.potential import PROTEIN_DENSITY_DA_A3

Ellipsoid = tuple[float, float, float, float, float, float]   # centre x, y, z and semi-axes a, b, c (units)
_BLOCK = {"C": 127, "N": 34, "O": 38, "S": 1}                # heavy-atom composition of protein, per 200
_ATOMS_PER_RESIDUE = 8


def _rz(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_FLIP_X = np.diag([1.0, -1.0, -1.0])      # 180° about x: the second ring of a dihedral double ring


def cyclic(n: int) -> list[np.ndarray]:
    """The ``n`` rotations of point group C_n about z, each a ``(3, 3)`` matrix.

    Parameters
    ----------
    n : int
        Order of the symmetry axis, >= 1.

    Returns
    -------
    list of np.ndarray
        Rotations by 360°·k/n about z, k = 0 .. n-1, each ``(3, 3)``.
    """
    return [_rz(360.0 * k / n) for k in range(n)]


def dihedral(n: int) -> list[np.ndarray]:
    """The ``2n`` rotations of point group D_n: those of C_n, then C_n after 180° about x.

    Parameters
    ----------
    n : int
        Order of the main (z) axis, >= 1.

    Returns
    -------
    list of np.ndarray
        The ``n`` rotations of :func:`cyclic` then the same composed with the flip, each ``(3, 3)``.
    """
    return cyclic(n) + [_FLIP_X @ r for r in cyclic(n)]


@dataclass(frozen=True)
class BuiltinSpec:
    """A procedural complex: ellipsoids of the asymmetric unit (arbitrary units) and its point-group rotations."""

    name: str
    mass_kda: float
    description: str
    ellipsoids: tuple[Ellipsoid, ...]
    rotations: tuple[np.ndarray, ...] = (np.eye(3),)


def _arc(n: int, radius: float, span_deg: float, r: float) -> tuple[Ellipsoid, ...]:
    angles = np.radians(np.linspace(-span_deg / 2, span_deg / 2, n))
    return tuple((radius * math.cos(a), radius * math.sin(a), 0.0, r, r, r) for a in angles)


BUILTIN_SPECS: tuple[BuiltinSpec, ...] = (
    BuiltinSpec("globule_40kda", 40, "compact globular monomer with a small lobe",
                ((0, 0, 0, 0.8, 0.7, 1.5), (0.7, 0, 0.8, 0.55, 0.5, 0.5))),
    BuiltinSpec("globule_65kda", 65, "prolate globular monomer with two lobes",
                ((0, 0, 0, 1.2, 0.65, 1.5), (0.9, 0, 1.0, 0.55, 0.5, 0.55), (-0.8, 0.3, -1.0, 0.5, 0.5, 0.5))),
    BuiltinSpec("bilobed_85kda", 85, "two-domain monomer",
                ((-0.75, 0, 0, 1.0, 1.0, 1.0), (0.75, 0, 0, 0.9, 0.9, 0.9))),
    BuiltinSpec("dimer_c2_150kda", 150, "C2 dimer of rod-like subunits",
                ((0.85, 0, 0, 0.8, 0.6, 1.3),), tuple(cyclic(2))),
    BuiltinSpec("elongated_190kda", 190, "elongated four-domain assembly",
                ((-2.1, 0, 0, .8, .8, .8), (-0.7, 0.35, 0, .75, .75, .75), (0.7, 0, 0.25, .8, .8, .8),
                 (2.1, 0.4, 0, .75, .75, .75))),
    BuiltinSpec("arch_c2_240kda", 240, "C2 dimer of two-domain arms (an arch)",
                ((0.7, 0, 0, .7, .7, .9), (1.9, 0, 0.9, .6, .6, .9)), tuple(cyclic(2))),
    BuiltinSpec("horseshoe_260kda", 260, "horseshoe of eight domains", _arc(8, 2.2, 240, 0.65)),
    BuiltinSpec("ring_c6_450kda", 450, "C6 ring with a central pore", ((1.5, 0, 0, 0.75, 0.6, 0.8),),
                tuple(cyclic(6))),
    BuiltinSpec("double_ring_d7_600kda", 600, "D7 double ring (two stacked C7 rings)",
                ((1.3, 0, 0.62, 0.8, 0.68, 0.66),), tuple(dihedral(7))),
    BuiltinSpec("ring_arms_c6_900kda", 900, "C6 ring with long radial arms (low sphericity)",
                ((1.3, 0, 0, 0.7, 0.6, 0.95), (2.5, 0, 0.3, 0.85, 0.3, 0.3)), tuple(cyclic(6))),
    BuiltinSpec("capped_barrel_c7_1300kda", 1300, "barrel of four stacked C7 rings with two caps",
                tuple((1.05, 0, z, 0.62, 0.58, 0.55) for z in (-1.5, -0.5, 0.5, 1.5))
                + ((0.75, 0, 2.5, 0.8, 0.7, 0.6), (0.75, 0, -2.5, 0.8, 0.7, 0.6)), tuple(cyclic(7))),
    BuiltinSpec("double_ring_d8_2000kda", 2000, "D8 double ring of elongated subunits with a cavity",
                ((1.55, 0, 0.85, 0.85, 0.72, 0.95), (1.3, 0, 1.85, 0.65, 0.6, 0.45)), tuple(dihedral(8))),
)


def _inside(points: np.ndarray, ellipsoids: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Which ``points`` (N, 3) lie in the union of ``ellipsoids`` (E, 6); chunked to bound memory."""
    out = np.zeros(len(points), bool)
    for s in range(0, len(points), chunk):
        d = (points[s:s + chunk, None, :] - ellipsoids[None, :, :3]) / ellipsoids[None, :, 3:]
        out[s:s + chunk] = ((d ** 2).sum(axis=2) <= 1.0).any(axis=1)
    return out


def _unit_centre(ellipsoids: np.ndarray) -> np.ndarray:
    """Volume-weighted mean of the ellipsoid centres: the seed point of the fundamental domain."""
    w = ellipsoids[:, 3:].prod(axis=1)
    return (ellipsoids[:, :3] * w[:, None]).sum(axis=0) / w.sum()


def domain_normals(rotations: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Normals ``R_k c - c`` (k ≠ identity) of the Dirichlet domain of ``c`` under the point group.

    A point ``p`` is in the domain when ``p · n_k <= 0`` for all ``k`` (it is at least as close
    to ``c`` as to any image ``R_k c``; rotations keep ``|R_k c| = |c|``). The images of the
    domain tile space without overlap, so atoms drawn in it never double the density.
    """
    images = np.einsum("kij,j->ki", rotations, centre)
    normals = images - centre
    keep = np.sqrt((normals ** 2).sum(axis=1))
    if len(rotations) > 1 and np.sort(keep)[1] < 1e-6 * max(1.0, float(np.abs(centre).max())):
        raise ValueError("the asymmetric unit's centre lies on a symmetry axis; move its ellipsoids off the axis")
    return normals[keep > 1e-9]


def _in_region(points: np.ndarray, ellipsoids: np.ndarray, rotations: np.ndarray,
               normals: np.ndarray) -> np.ndarray:
    """Points of the fundamental domain that lie in the union of all symmetry copies of the unit."""
    inside = (points @ normals.T <= 0.0).all(axis=1) if len(normals) else np.ones(len(points), bool)
    idx = np.flatnonzero(inside)
    hit = np.zeros(len(idx), bool)
    for rot in rotations:                    # p is in copy R E when R^T p is in E (row vectors: p @ R)
        todo = ~hit
        hit[todo] = _inside(points[idx[todo]] @ rot, ellipsoids)
    inside[idx[~hit]] = False
    return inside


def _region_bounds(ellipsoids: np.ndarray, rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds of the whole complex (every copy's bounding spheres of the ellipsoids)."""
    r = ellipsoids[:, 3:].max(axis=1)
    centres = np.einsum("kij,ej->kei", rotations, ellipsoids[:, :3]).reshape(-1, 3)
    radii = np.tile(r, len(rotations))
    return (centres - radii[:, None]).min(axis=0), (centres + radii[:, None]).max(axis=0)


def _jittered_lattice(lo: np.ndarray, hi: np.ndarray, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """One uniform point per cubic cell of edge ``spacing`` covering ``[lo, hi]`` (stratified sampling)."""
    axes = [lo[i] + spacing * np.arange(int(np.ceil((hi[i] - lo[i]) / spacing)) + 1) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid + spacing * rng.random(grid.shape)


def sample_unit(ellipsoids: np.ndarray, rotations: np.ndarray, n: int,
                rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """``n`` points of the asymmetric unit and its volume (units³), merged with its symmetry copies.

    The unit is the part of the union of all copies of ``ellipsoids`` that lies in the Dirichlet
    domain of the unit's centre (:func:`domain_normals`), so the copies of the unit tile the complex
    exactly: no voxel gets the density of two overlapping copies. Points come from a jittered
    lattice (one per cell, thinned at random to ``n``), as even as atoms in a protein, so the
    10 Å density has no Poisson clumps.
    """
    rotations = np.asarray(rotations, float)
    normals = domain_normals(rotations, _unit_centre(ellipsoids))
    lo, hi = _region_bounds(ellipsoids, rotations)
    coarse = float(np.prod(hi - lo) / 400_000.0) ** (1.0 / 3.0)
    probe = _jittered_lattice(lo, hi, coarse, rng)
    volume = float(_in_region(probe, ellipsoids, rotations, normals).sum()) * coarse ** 3
    if volume <= 0:
        raise ValueError("the asymmetric unit has no volume")
    spacing = (volume / (1.04 * n)) ** (1.0 / 3.0)
    while True:
        pts = _jittered_lattice(lo, hi, spacing, rng)
        pts = pts[_in_region(pts, ellipsoids, rotations, normals)]
        if len(pts) >= n:
            break
        spacing *= 0.97
    keep = np.sort(rng.choice(len(pts), size=n, replace=False))
    return pts[keep], volume


def _element_mix(n: int, rng: np.random.Generator) -> np.ndarray:
    block = np.concatenate([[gemmi.Element(e).atomic_number] * k for e, k in _BLOCK.items()])
    return rng.permutation(np.resize(block, n))


def mean_atom_mass_da() -> float:
    """Mean mass of a pseudo-atom with its implicit hydrogens (C and N carry one)."""
    total = sum(k * (gemmi.Element(e).weight + (1.008 if e in "CN" else 0.0)) for e, k in _BLOCK.items())
    return total / sum(_BLOCK.values())


def build_complex(spec: BuiltinSpec, rng: np.random.Generator) -> gemmi.Structure:
    """The gemmi structure of ``spec``: one chain (the asymmetric unit) and assembly ``1`` (the complex)."""
    n_ops = len(spec.rotations)
    n_atoms = int(round(spec.mass_kda * 1000.0 / n_ops / mean_atom_mass_da()))
    ell = np.asarray(spec.ellipsoids, float)
    unit_points, unit_volume = sample_unit(ell, np.asarray(spec.rotations, float), n_atoms, rng)
    target_volume = spec.mass_kda * 1000.0 / n_ops / PROTEIN_DENSITY_DA_A3
    scale = (target_volume / unit_volume) ** (1.0 / 3.0)
    xyz = unit_points * scale
    elements = _element_mix(n_atoms, rng)

    st = gemmi.Structure()
    st.name = spec.name
    model = gemmi.Model(1)
    chain = gemmi.Chain("A")
    for start in range(0, n_atoms, _ATOMS_PER_RESIDUE):
        res = gemmi.Residue()
        res.name = "UNK"
        res.seqid = gemmi.SeqId(start // _ATOMS_PER_RESIDUE + 1, " ")
        res.entity_type = gemmi.EntityType.Polymer
        for i in range(start, min(start + _ATOMS_PER_RESIDUE, n_atoms)):
            atom = gemmi.Atom()
            el = gemmi.Element(int(elements[i]))
            atom.element = el
            atom.name = f"{el.name}{i - start + 1}"
            atom.pos = gemmi.Position(*xyz[i])
            atom.occ = 1.0
            atom.b_iso = 20.0
            res.add_atom(atom)
        chain.add_residue(res)
    model.add_chain(chain)
    st.add_model(model)
    st.setup_entities()

    assembly = gemmi.Assembly("1")
    gen = gemmi.Assembly.Gen()
    gen.chains = ["A"]
    for k, rot in enumerate(spec.rotations):
        op = gemmi.Assembly.Operator()
        op.name = str(k + 1)
        op.transform = gemmi.Transform(gemmi.Mat33(rot.tolist()), gemmi.Vec3(0.0, 0.0, 0.0))
        gen.operators.append(op)
    assembly.generators.append(gen)
    st.assemblies.append(assembly)
    return st


def builtin_structures(seed: int = 0) -> list[tuple[BuiltinSpec, gemmi.Structure]]:
    """The 12 built-in complexes; the same ``seed`` gives the same atoms."""
    return [(spec, build_complex(spec, np.random.default_rng([seed, i]))) for i, spec in enumerate(BUILTIN_SPECS)]
