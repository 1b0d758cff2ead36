"""Multi-ball compaction (the multi-ball packing paper, seed 000), then refill.

Particles are rigid bodies made of their (rotated) ball models. Each step moves
every body by an external pull toward the centre of the sample (constant far
out, fading linearly to zero inside ``core`` voxels, as the paper's piecewise
field) plus a soft repulsion proportional to the overlap depth of its balls
with other bodies' balls; a move is capped at ``step_a``. Bodies keep their
orientation, so their rendered densities only translate. After the steps the
bodies are put back voxel-exactly, nearest to the centre first (at the rounded
new centre, else a face neighbour, else the old centre; a body that fits
nowhere is dropped and reported). Then a voxel-exact *settle*: nearest first,
each body steps one voxel toward the centre (diagonally, else along one axis)
while it still fits, for ``settle_passes`` passes; nothing is dropped there.
Random insertion finally refills the space freed at the border. ``rounds``
repeats it all; ``relax: false`` skips the ball dynamics (settle only), which
suits ``packing_model: voxel`` where balls of neighbours already overlap.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from generator.scene.canvas import Canvas
from generator.scene.insertion import Packer
from generator.scene.packing import BallIndex, centre_range, rotated_balls
from generator.scene.params import SceneParams
from generator.scene.report import PackReport
from generator.scene.templates import Shape

_NEIGHBOURS = [np.zeros(3, int)] + [s * np.eye(3, dtype=int)[i] for i in range(3) for s in (1, -1)]


def relax(centres: np.ndarray, rel_balls: list[np.ndarray], target: np.ndarray, bounds: list, iterations: int,
          step: float, core: float) -> np.ndarray:
    """Move rigid ball bodies toward ``target`` with soft repulsion; returns new (float) centres."""
    owner = np.concatenate([np.full(len(b), i) for i, b in enumerate(rel_balls)])
    rel = np.vstack(rel_balls)
    radii = rel[:, 3]
    centres = centres.astype(float).copy()
    lo = np.array([b[0] for b in bounds], dtype=float)
    hi = np.array([b[1] for b in bounds], dtype=float)
    reach = 2 * radii.max()
    for _ in range(iterations):
        pos = centres[owner] + rel[:, :3]
        pairs = cKDTree(pos).query_pairs(reach, output_type="ndarray")
        force = np.zeros_like(centres)
        if len(pairs):
            i, j = pairs[:, 0], pairs[:, 1]
            keep = owner[i] != owner[j]
            i, j = i[keep], j[keep]
            vec = pos[i] - pos[j]
            dist = np.maximum(np.linalg.norm(vec, axis=1), 1e-6)
            depth = radii[i] + radii[j] - dist
            hit = depth > 0
            push = (depth[hit] / dist[hit])[:, None] * vec[hit]
            np.add.at(force, owner[i[hit]], 0.5 * push)
            np.add.at(force, owner[j[hit]], -0.5 * push)
        to_centre = target - centres
        dist_c = np.maximum(np.linalg.norm(to_centre, axis=1, keepdims=True), 1e-6)
        pull = to_centre / dist_c * step * np.minimum(dist_c / core, 1.0) * 0.5
        move = force + pull
        norm = np.maximum(np.linalg.norm(move, axis=1, keepdims=True), 1e-12)
        move *= np.minimum(1.0, step / norm)
        centres = np.clip(centres + move, lo, hi)
    return centres


def settle(ids: list[int], canvas: Canvas, target_xyz: np.ndarray, passes: int) -> int:
    """Voxel-exact gravity: bodies step toward ``target_xyz`` while they fit; returns the number of moves."""
    moves = 0
    for _ in range(passes):
        order = sorted(ids, key=lambda i: float(np.linalg.norm(canvas.records[i].centre_xyz - target_xyz)))
        moved_any = False
        for rid in order:
            d = target_xyz - canvas.records[rid].centre_xyz
            step = np.where(np.abs(d) >= 1, np.sign(d), 0).astype(int)      # x y z
            if not step.any():
                continue
            candidates = [step] + [step * (np.arange(3) == a) for a in np.argsort(-np.abs(d)) if step[a]]
            for cand in candidates:
                if canvas.move(rid, cand[::-1]):
                    moves += 1
                    moved_any = True
                    break
        if not moved_any:
            break
    return moves


def ball_index(canvas: Canvas, shapes: dict[str, Shape]) -> BallIndex:
    """The broad phase of the refill: the balls of every placed object that has some.

    Particles contribute their ball models at their rotation, a fiducial one ball over its bounding box.
    """
    index = BallIndex()
    for r in canvas.records.values():
        if r.matrix is not None:
            index.add(rotated_balls(shapes[r.class_name].balls, r.matrix, r.centre_xyz), r.id)
        elif r.kind == "fiducial":
            index.add(np.array([[*r.centre_xyz, (r.bbox_zyx[3] - r.bbox_zyx[0]) / 2 + 0.5]]), r.id)
    return index


def compact_and_refill(canvas: Canvas, shapes: dict[str, Shape], weights: dict[str, float],
                       params: SceneParams, first_report: PackReport, packer: Packer) -> dict:
    """Run ``params.compaction.rounds`` of compaction + refill on the placed cytosolic particles.

    The refills are further passes of ``packer`` (the scene's packer, so they
    continue its random rotations and its cluster ids).
    """
    cp = params.compaction
    history = []
    target = np.array([canvas.shape_zyx[2] - 1, canvas.shape_zyx[1] - 1,
                       canvas.slab_z[0] + canvas.slab_z[1] - 1], dtype=float) / 2
    requested = first_report.requested
    next_cluster = first_report.next_cluster       # refill chains continue the cluster ids of the first pass
    for _ in range(cp.rounds):
        bodies = [r for r in canvas.records.values() if r.kind == "protein" and r.density is not None
                  and r.matrix is not None and not r.extra.get("membrane_bound")]
        if not bodies:
            break
        rel = [rotated_balls(shapes[r.class_name].balls, r.matrix, (0, 0, 0)) for r in bodies if r.matrix is not None]
        bounds = [centre_range(b, canvas.shape_zyx[::-1], canvas.slab_z) for b in rel]
        start = np.array([r.centre_xyz for r in bodies], dtype=float)
        moved = relax(start, rel, target, bounds, cp.iterations, cp.step_a / params.voxel_size_a,
                      core=0.25 * min(canvas.shape_zyx)) if cp.relax else start
        for r in bodies:
            canvas.remove(r.id)
        order = np.argsort(np.linalg.norm(moved - target, axis=1), kind="stable")
        dropped = 0
        for k in order:
            r, new = bodies[k], np.rint(moved[k]).astype(int)
            for cand in [new + d for d in _NEIGHBOURS] + [r.centre_xyz]:
                origin = cand[::-1] + r.offset_zyx
                if canvas.fits(origin, r.mask):
                    canvas.add(origin, r.density, r.mask, class_name=r.class_name, label=r.label,
                               kind=r.kind, centre_xyz=cand, angles=r.angles, keep_crop=True,
                               matrix=r.matrix, cluster=r.cluster)
                    break
            else:
                dropped += 1
        settled = settle([r.id for r in canvas.records.values() if r.kind == "protein" and r.density is not None
                          and not r.extra.get("membrane_bound")], canvas, target, cp.settle_passes)
        index = ball_index(canvas, shapes)            # balls at the settled places
        placed_now = {n: 0 for n in weights}
        for r in canvas.records.values():
            if r.kind == "protein" and r.class_name in placed_now and not r.extra.get("membrane_bound"):
                placed_now[r.class_name] += 1
        before = canvas.occupied_voxels(("protein",)) / canvas.slab_voxels
        if requested is not None:
            left = {n: max(requested[n] - placed_now[n], 0) for n in weights}
            n_left = sum(left.values())
            refill = packer.pack(index, {n: float(v) for n, v in left.items() if v > 0}, n_particles=n_left,
                                 occupancy=None, first_cluster=next_cluster, desc="refill") if n_left else None
        else:
            refill = packer.pack(index, weights, n_particles=None, occupancy=params.occupancy,
                                 first_cluster=next_cluster, desc="refill")
        if refill is not None:
            next_cluster = refill.next_cluster
        history.append({"dropped": dropped, "settle_moves": settled, "occupancy_after_compaction": before,
                        "refilled": None if refill is None else sum(refill.placed.values()),
                        "occupancy": canvas.occupied_voxels(("protein",)) / canvas.slab_voxels})
    return {"rounds": history}
