"""The particle insertion loop: quotas or an occupancy target, N_t, SAWLC clusters, a report."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from generator.scene.canvas import Canvas
from generator.scene.packing import BallIndex, cluster_trial, place_batch, quotas, random_trial
from generator.scene.params import ClusterParams
from generator.scene.templates import Shape


def pack_particles(canvas: Canvas, index: BallIndex, shapes: dict[str, Shape], weights: dict[str, float],
                   rng: np.random.Generator, *, n_particles: int | None, occupancy: float | None,
                   max_failures: int, model: str, largest_first: bool, clusters: ClusterParams,
                   voxel_size_a: float, keep_crop: bool = False, first_cluster: int = 1,
                   threads: int = 2, desc: str = "particles") -> dict:
    """Insert particles of ``shapes`` until the count quotas or the occupancy target are met.

    ``weights`` (class -> share by number) selects the classes. With
    ``n_particles`` the classes get largest-remainder quotas, else classes are
    drawn at random until the protein voxels reach ``occupancy`` of the slab.
    A class that fails ``max_failures`` consecutive trials is exhausted. Returns
    the report: requested / placed per class, exhausted classes, trials,
    failures, the resulting occupancy and the next free cluster id.
    """
    names = [n for n in weights if weights[n] > 0]
    w = np.array([weights[n] for n in names], dtype=float)
    by_count = n_particles is not None
    requested = quotas(n_particles, names, w) if by_count else None
    remaining = dict(requested) if by_count else None
    placed = {n: 0 for n in names}
    exhausted: list[str] = []
    stats = {"trials": 0, "failures": 0}
    target_vox = None if by_count else occupancy * canvas.slab_voxels
    kw = dict(model=model, keep_crop=keep_crop)
    bar = tqdm(total=n_particles if by_count else None, desc=desc, unit="p", disable=None, leave=False)

    def active() -> list[str]:
        return [n for n in names if n not in exhausted and (not by_count or remaining[n] > 0)]

    def done() -> bool:
        if not active():
            return True
        return (not by_count) and canvas.occupied_voxels(("protein",)) >= target_vox

    def draw(pool: list[str]) -> str:
        p = np.array([remaining[n] if by_count else weights[n] for n in pool], dtype=float)
        return pool[int(rng.choice(len(pool), p=p / p.sum()))]

    def commit(name: str) -> None:
        placed[name] += 1
        if by_count:
            remaining[name] -= 1
        bar.update(1)

    def insert_many(name: str, want: int) -> None:
        """Batched trials of one class (rendered on ``threads`` threads) until ``want`` or N_t failures."""
        trials, failures, out = place_batch(canvas, index, shapes[name], rng, model, want, max_failures,
                                            threads=threads, on_place=lambda rec: commit(name), keep_crop=keep_crop)
        stats["trials"] += trials
        stats["failures"] += failures
        if out:
            exhausted.append(name)

    def insert(name: str, cluster: int = 0):
        """Trials of one class until success or N_t consecutive failures."""
        for _ in range(max_failures):
            stats["trials"] += 1
            rec = random_trial(canvas, index, shapes[name], rng, cluster=cluster, **kw)
            if rec is not None:
                commit(name)
                return rec
            stats["failures"] += 1
        exhausted.append(name)
        return None

    cluster_id = first_cluster
    # SAWLC clusters first (heterogeneous: members drawn by the class weights).
    if clusters.enabled and clusters.fraction > 0:
        goal = clusters.fraction * (n_particles if by_count else target_vox)
        in_clusters = 0.0
        while in_clusters < goal and not done():
            name = draw(active())
            prev = insert(name, cluster_id)
            if prev is None:
                continue
            in_clusters += 1 if by_count else prev.voxels
            size = rng.geometric(1.0 / clusters.mean_size)
            for _ in range(size - 1):
                pool = active()
                if not pool or in_clusters >= goal:
                    break
                nxt_name = draw(pool)
                rec = None
                for _ in range(clusters.max_failures):
                    stats["trials"] += 1
                    gap = rng.uniform(*clusters.gap_range_a) / voxel_size_a
                    rec = cluster_trial(canvas, index, shapes[nxt_name], prev, shapes[prev.class_name], rng,
                                        gap_vox=gap, cluster=cluster_id, **kw)
                    if rec is not None:
                        break
                    stats["failures"] += 1
                if rec is None:
                    break
                commit(nxt_name)
                in_clusters += 1 if by_count else rec.voxels
                prev = rec
            cluster_id += 1

    if by_count and largest_first:
        for name in sorted(names, key=lambda n: -shapes[n].mask_volume_vox):
            insert_many(name, remaining[name])
    else:
        while not done():
            insert_many(draw(active()), 1)
    bar.close()
    return {
        "requested": requested,
        "target_occupancy": occupancy if not by_count else None,
        "placed": placed,
        "exhausted": exhausted,
        "trials": stats["trials"],
        "failures": stats["failures"],
        "occupancy": canvas.occupied_voxels(("protein",)) / canvas.slab_voxels,
        "next_cluster": cluster_id,
    }
