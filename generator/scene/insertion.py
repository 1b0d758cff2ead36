"""The particle insertion loop: quotas or an occupancy target, N_t, SAWLC clusters, a report.

:class:`Packer` holds what one scene's packing passes share (the canvas, the
shapes, the random sources, the render threads); :meth:`Packer.pack` runs one
pass, the first one and each refill after compaction alike, and returns a
:class:`~generator.scene.report.PackReport`. The state of a pass (what is asked, placed, exhausted)
lives in a :class:`Fill`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from tqdm import tqdm

from generator.scene.canvas import Canvas, Record
from generator.scene.packing import BallIndex, FailureStreak, Renderer, RotationPool, TrialLog, Trials, quotas
from generator.scene.params import ClusterParams, SceneParams
from generator.scene.report import PackReport
from generator.scene.templates import Shape


@dataclass(frozen=True)
class PackingRules:
    """How particles are inserted: the fields of ``scene`` the packer reads.

    ``max_failures`` is PolNet's N_t, ``model`` the broad phase (``packing_model``),
    ``keep_crop`` keeps each crop for compaction, ``threads`` render templates.
    """

    max_failures: int
    model: str
    largest_first: bool
    clusters: ClusterParams
    voxel_size_a: float
    keep_crop: bool = False
    threads: int = 1

    @classmethod
    def from_scene(cls, params: SceneParams) -> PackingRules:
        """The rules of the ``scene`` parameters."""
        return cls(max_failures=params.max_failures, model=params.packing_model,
                   largest_first=params.largest_first, clusters=params.clusters, voxel_size_a=params.voxel_size_a,
                   keep_crop=params.compaction.enabled, threads=params.render_threads)


@dataclass
class Fill:
    """The state of one packing pass: per-class quotas or an occupancy target, and what is placed."""

    names: list[str]
    weights: dict[str, float]
    requested: dict[str, int] | None
    target_voxels: float | None
    placed: dict[str, int] = field(default_factory=dict)
    exhausted: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, weights: dict[str, float], n_particles: int | None, occupancy: float | None,
           slab_voxels: int) -> Fill:
        """Quotas for ``n_particles`` (largest remainder by ``weights``), else the ``occupancy`` target."""
        names = [n for n in weights if weights[n] > 0]
        placed = {n: 0 for n in names}
        if n_particles is not None:
            requested = quotas(n_particles, names, np.array([weights[n] for n in names], dtype=float))
            return cls(names, weights, requested, None, placed=placed)
        if occupancy is None:
            raise ValueError("a packing pass needs n_particles or an occupancy target")
        return cls(names, weights, None, occupancy * slab_voxels, placed=placed)

    @property
    def by_count(self) -> bool:
        """True with per-class quotas, False with an occupancy target."""
        return self.requested is not None

    @property
    def goal(self) -> float:
        """The whole target: the number of particles asked for, or the protein voxels."""
        if self.requested is not None:
            return float(sum(self.requested.values()))
        return float(self.target_voxels or 0.0)

    def remaining(self, name: str) -> int:
        """Particles of ``name`` still to place (0 with an occupancy target)."""
        return 0 if self.requested is None else self.requested[name] - self.placed[name]

    def active(self) -> list[str]:
        """Classes still to place: not exhausted and (with quotas) not yet complete."""
        return [n for n in self.names if n not in self.exhausted and (not self.by_count or self.remaining(n) > 0)]

    def done(self, canvas: Canvas) -> bool:
        """True when no class is active or the occupancy target is reached."""
        if not self.active():
            return True
        return self.target_voxels is not None and canvas.occupied_voxels(("protein",)) >= self.target_voxels

    def draw(self, pool: list[str], rng: np.random.Generator) -> str:
        """A class of ``pool``, by the remaining quotas or by the weights."""
        p = np.array([self.remaining(n) if self.by_count else self.weights[n] for n in pool], dtype=float)
        return pool[int(rng.choice(len(pool), p=p / p.sum()))]

    def amount(self, rec: Record) -> float:
        """How much a placed record counts toward the target: one particle, or its voxels."""
        return 1 if self.by_count else rec.voxels


class Packer:
    """Packs particles of ``shapes`` into ``canvas``, pass after pass (same rng state -> same scene).

    Parameters
    ----------
    canvas
        The scene being built.
    shapes
        Class name -> prepared template.
    rng
        The scene's generator; the packer's rotation pool draws from it too.
    rules
        The packing parameters.

    Use it as a context manager: it owns the render threads.
    """

    def __init__(self, canvas: Canvas, shapes: dict[str, Shape], rng: np.random.Generator, rules: PackingRules):
        self.canvas, self.shapes, self.rng, self.rules = canvas, shapes, rng, rules
        self.rotations = RotationPool(rng)
        self.renderer = Renderer(rules.threads)

    def __enter__(self) -> Packer:
        return self

    def __exit__(self, *exc) -> None:
        self.renderer.close()

    def pack(self, index: BallIndex, weights: dict[str, float], *, n_particles: int | None,
             occupancy: float | None, first_cluster: int = 1, desc: str = "particles") -> PackReport:
        """Insert particles until the count quotas or the occupancy target are met.

        ``weights`` (class -> share by number) selects the classes. With
        ``n_particles`` the classes get largest-remainder quotas, else classes are
        drawn at random until the protein voxels reach ``occupancy`` of the slab.
        A class that fails ``max_failures`` consecutive trials is exhausted. SAWLC
        clusters (when enabled) come first, numbered from ``first_cluster``.
        """
        fill = Fill.of(weights, n_particles, occupancy, self.canvas.slab_voxels)
        trials = Trials(self.canvas, index, self.rotations, self.rng, self.rules.model, self.rules.keep_crop)
        log = TrialLog()
        bar = tqdm(total=n_particles, desc=desc, unit="p", disable=None, leave=False)
        pass_ = _Pass(self, fill, trials, log, bar)
        next_cluster = pass_.clusters(first_cluster)
        pass_.fill_rest()
        bar.close()
        return PackReport(requested=fill.requested, target_occupancy=None if fill.by_count else occupancy,
                          placed=fill.placed, exhausted=fill.exhausted, trials=log.trials, failures=log.failures,
                          occupancy=self.canvas.occupied_voxels(("protein",)) / self.canvas.slab_voxels,
                          next_cluster=next_cluster)


class _Pass:
    """One :meth:`Packer.pack` call: its fill, trials, tally and progress bar."""

    def __init__(self, packer: Packer, fill: Fill, trials: Trials, log: TrialLog, bar: tqdm):
        self.packer, self.fill, self.trials, self.log, self.bar = packer, fill, trials, log, bar
        self.rules, self.shapes, self.rng = packer.rules, packer.shapes, packer.rng

    def commit(self, name: str) -> None:
        self.fill.placed[name] += 1
        self.bar.update(1)

    def insert_one(self, name: str, cluster: int = 0) -> Record | None:
        """Trials of one class until success or N_t consecutive failures (then the class is exhausted)."""
        streak = FailureStreak(self.rules.max_failures, self.log)
        rec = streak.first_success(lambda: self.trials.random(self.shapes[name], cluster))
        if rec is None:
            self.fill.exhausted.append(name)
        else:
            self.commit(name)
        return rec

    def insert_many(self, name: str, want: int) -> None:
        """Batched trials of one class until ``want`` are placed or N_t fail in a row."""
        streak = FailureStreak(self.rules.max_failures, self.log)
        self.trials.batch(self.shapes[name], want, streak, self.packer.renderer, lambda rec: self.commit(name))
        if streak.exhausted:
            self.fill.exhausted.append(name)

    def clusters(self, cluster_id: int) -> int:
        """SAWLC chains until their share of the target is placed; returns the next free cluster id.

        Chains are heterogeneous: each member's class is drawn by the fill's weights.
        """
        cp, fill = self.rules.clusters, self.fill
        if not (cp.enabled and cp.fraction > 0):
            return cluster_id
        goal = cp.fraction * fill.goal
        in_clusters = 0.0
        while in_clusters < goal and not fill.done(self.packer.canvas):
            first = self.insert_one(fill.draw(fill.active(), self.rng), cluster_id)
            if first is None:
                continue
            in_clusters += fill.amount(first)
            in_clusters = self.grow_chain(first, cluster_id, in_clusters, goal)
            cluster_id += 1
        return cluster_id

    def grow_chain(self, previous: Record, cluster_id: int, in_clusters: float, goal: float) -> float:
        """Members of one chain after ``previous``, up to a geometric size; returns the amount in clusters."""
        cp, fill = self.rules.clusters, self.fill
        size = self.rng.geometric(1.0 / cp.mean_size)
        for _ in range(size - 1):
            pool = fill.active()
            if not pool or in_clusters >= goal:
                break
            name = fill.draw(pool, self.rng)
            streak = FailureStreak(cp.max_failures, self.log)
            rec = streak.first_success(partial(self.chain_trial, name, previous, cluster_id))
            if rec is None:
                break
            self.commit(name)
            in_clusters += fill.amount(rec)
            previous = rec
        return in_clusters

    def chain_trial(self, name: str, previous: Record, cluster_id: int) -> Record | None:
        """One trial of the next chain member, at a random surface gap from ``previous``."""
        gap_vox = self.rng.uniform(*self.rules.clusters.gap_range_a) / self.rules.voxel_size_a
        return self.trials.next_to(self.shapes[name], previous, self.shapes[previous.class_name], gap_vox, cluster_id)

    def fill_rest(self) -> None:
        """The particles outside clusters: class by class, largest first, or one at a time by weight."""
        fill = self.fill
        if fill.by_count and self.rules.largest_first:
            for name in sorted(fill.names, key=lambda n: -self.shapes[n].mask_volume_vox):
                self.insert_many(name, fill.remaining(name))
        else:
            while not fill.done(self.packer.canvas):
                self.insert_many(fill.draw(fill.active(), self.rng), 1)
