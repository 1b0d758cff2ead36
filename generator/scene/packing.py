"""Random insertion of macromolecules (PolNet's trial-and-error insertion).

A trial draws a uniformly random rotation (Shoemake quaternions,
:func:`tomobench.euler.random_rotations`) and an integer centre uniformly among
those where the rotated ball model lies inside the volume and the slab. The
broad phase rejects it if its balls overlap balls already placed
(``packing_model``: ``multiball`` = the library's ball model, ``singleball`` = one
enclosing ball, ``voxel`` = no broad phase); the narrow phase rotates the
template and tests the mask voxel-exactly against the occupancy map (touching
allowed). ``max_failures`` consecutive failed trials of one class (PolNet's N_t)
end that class; the report says what was placed instead of what was asked.
Clusters are self-avoiding worm-like chains (SAWLC): each member sits at a random
direction from the previous one, at the sum of their effective radii plus a gap.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from generator.scene.canvas import Canvas, Record
from generator.scene.geometry import random_unit
from generator.scene.templates import Shape, render, rotated_balls
from tomobench.euler import random_rotations


class BallIndex:
    """Placed balls (x, y, z, r in voxels) with a fast 'does this body overlap any ball' query."""

    def __init__(self) -> None:
        self._frozen = np.zeros((0, 4))
        self._frozen_owner = np.zeros(0, dtype=int)
        self._tree: cKDTree | None = None
        self._pending: list[np.ndarray] = []
        self._pending_owner: list[np.ndarray] = []
        self._max_r = 0.0

    def add(self, balls: np.ndarray, owner: int) -> None:
        """Index the balls ``(n, 4)`` (x, y, z, r in voxels) of object ``owner``."""
        self._pending.append(np.asarray(balls, dtype=float))
        self._pending_owner.append(np.full(len(balls), owner))
        self._max_r = max(self._max_r, float(balls[:, 3].max()))
        if sum(len(p) for p in self._pending) > 512:
            self._freeze()

    def _freeze(self) -> None:
        if self._pending:
            self._frozen = np.vstack([self._frozen, *self._pending])
            self._frozen_owner = np.concatenate([self._frozen_owner, *self._pending_owner])
            self._pending, self._pending_owner = [], []
            self._tree = cKDTree(self._frozen[:, :3])

    def collides(self, balls: np.ndarray, tolerance: float = 1e-6) -> bool:
        """True if any ball of ``balls`` overlaps (deeper than ``tolerance``) a placed ball."""
        if self._tree is not None:
            hits = self._tree.query_ball_point(balls[:, :3], balls[:, 3] + self._max_r, return_sorted=False)
            sizes = np.fromiter((len(h) for h in hits), dtype=int, count=len(hits))
            if sizes.any():
                idx = np.concatenate([np.asarray(h, dtype=int) for h in hits])
                mine = np.repeat(np.arange(len(balls)), sizes)
                other = self._frozen[idx]
                d = np.sqrt(((other[:, :3] - balls[mine, :3]) ** 2).sum(1))
                if (d < other[:, 3] + balls[mine, 3] - tolerance).any():
                    return True
        if self._pending:
            other = np.vstack(self._pending)
            d = np.sqrt(((other[None, :, :3] - balls[:, None, :3]) ** 2).sum(2))
            if (d < other[None, :, 3] + balls[:, None, 3] - tolerance).any():
                return True
        return False


class RotationPool:
    """Uniform random rotations drawn from ``rng`` in batches (cheaper than one at a time).

    One pool serves one scene: the packer creates it with the scene's generator,
    so the rotations a scene gets depend only on that generator's state.
    """

    def __init__(self, rng: np.random.Generator, batch: int = 256):
        self.rng, self.batch, self._left = rng, batch, np.zeros((0, 3, 3))

    def next(self) -> np.ndarray:
        """The next rotation matrix, shape ``(3, 3)``."""
        if not len(self._left):
            self._left = random_rotations(self.batch, self.rng)
        out, self._left = self._left[0], self._left[1:]
        return out


class Renderer:
    """Rotates templates on a thread pool (scipy.ndimage releases the GIL while it interpolates).

    Results never depend on ``threads``: :meth:`map` keeps the input order. Use it
    as a context manager so the pool's threads end with the scene.
    """

    def __init__(self, threads: int = 1):
        self._pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None

    def map(self, fn: Callable, items: list) -> list:
        """``[fn(x) for x in items]``, on the pool when there is more than one item."""
        if self._pool is None or len(items) < 2:
            return [fn(x) for x in items]
        return list(self._pool.map(fn, items))

    def close(self) -> None:
        """End the pool's threads (a closed renderer works on one thread)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class TrialLog:
    """Trials and failed trials, counted over a whole packing pass."""

    trials: int = 0
    failures: int = 0


class FailureStreak:
    """PolNet's N_t rule: ``limit`` consecutive failed trials end the attempt.

    Every trial loop of the packer counts through one of these, so the rule
    (and the trial/failure tally in ``log``) is written once.
    """

    def __init__(self, limit: int, log: TrialLog):
        self.limit, self.log, self.run = limit, log, 0

    def record(self, rec: Record | None) -> None:
        """Count one trial: a placed record resets the streak, ``None`` extends it."""
        self.log.trials += 1
        if rec is None:
            self.log.failures += 1
            self.run += 1
        else:
            self.run = 0

    @property
    def exhausted(self) -> bool:
        """True once ``limit`` trials in a row have failed."""
        return self.run >= self.limit

    def first_success(self, trial: Callable[[], Record | None]) -> Record | None:
        """Run ``trial`` until it places something (the record) or the streak is exhausted (None)."""
        while not self.exhausted:
            rec = trial()
            self.record(rec)
            if rec is not None:
                return rec
        return None


def body_balls(shape: Shape, model: str) -> np.ndarray:
    """The balls of the broad phase: one enclosing ball for ``singleball``, else the ball model."""
    return shape.single_ball() if model == "singleball" else shape.balls


def centre_range(balls_rot: np.ndarray, shape_xyz, slab_z) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive integer range of centres keeping rotated (centre-relative) balls inside the sample."""
    ext_lo = (balls_rot[:, :3] - balls_rot[:, 3:4]).min(0)
    ext_hi = (balls_rot[:, :3] + balls_rot[:, 3:4]).max(0)
    lower = np.array([0, 0, slab_z[0]], dtype=float) - 0.5
    upper = np.array([shape_xyz[0], shape_xyz[1], slab_z[1]], dtype=float) - 0.5
    return np.ceil(lower - ext_lo).astype(int), np.floor(upper - ext_hi).astype(int)


def try_place(canvas: Canvas, index: BallIndex, shape: Shape, matrix: np.ndarray, centre_xyz,
              model: str, *, kind: str = "protein", cluster: int = 0, keep_crop: bool = False,
              rendered: tuple | None = None) -> Record | None:
    """One trial at a given rotation and integer centre; the record if it was placed.

    ``rendered`` is ``render(shape, matrix)`` when it was computed beforehand.
    """
    centre_xyz = np.asarray(centre_xyz, dtype=int)
    balls = rotated_balls(body_balls(shape, model), matrix, centre_xyz)
    if model != "voxel" and index.collides(balls):
        return None
    density, mask, offset = render(shape, matrix) if rendered is None else rendered
    origin = centre_xyz[::-1] + offset
    if not canvas.fits(origin, mask):
        return None
    rec = canvas.add(origin, density, mask, class_name=shape.name, label=shape.label, kind=kind,
                     centre_xyz=centre_xyz, angles=None, keep_crop=keep_crop,
                     matrix=matrix, cluster=cluster)
    index.add(rotated_balls(body_balls(shape, "multiball" if model == "voxel" else model), matrix, centre_xyz),
              rec.id)
    return rec


class Trials:
    """Insertion trials of one packing pass: a canvas, its ball index and the scene's random sources.

    Parameters
    ----------
    canvas, index
        The scene being built and the broad-phase index of the balls placed so far.
    rotations, rng
        The scene's rotation pool and generator (positions are drawn from ``rng``).
    model
        ``packing_model``: ``multiball``, ``singleball`` or ``voxel`` (no broad phase).
    keep_crop
        Keep each placed object's crop on its record (compaction moves them later).
    """

    def __init__(self, canvas: Canvas, index: BallIndex, rotations: RotationPool, rng: np.random.Generator,
                 model: str, keep_crop: bool = False):
        self.canvas, self.index, self.rotations, self.rng = canvas, index, rotations, rng
        self.model, self.keep_crop = model, keep_crop

    def propose(self, shape: Shape) -> tuple[np.ndarray, np.ndarray] | None:
        """A uniformly random rotation and an integer centre where the rotated balls fit; None if none does."""
        matrix = self.rotations.next()
        lo, hi = centre_range(rotated_balls(body_balls(shape, self.model), matrix, (0, 0, 0)),
                              self.canvas.shape_zyx[::-1], self.canvas.slab_z)
        if (hi < lo).any():
            return None
        return matrix, self.rng.integers(lo, hi + 1)

    def place(self, shape: Shape, matrix: np.ndarray, centre_xyz, cluster: int = 0,
              rendered: tuple | None = None) -> Record | None:
        """:func:`try_place` on this pass's canvas and index."""
        return try_place(self.canvas, self.index, shape, matrix, centre_xyz, self.model, cluster=cluster,
                         keep_crop=self.keep_crop, rendered=rendered)

    def random(self, shape: Shape, cluster: int = 0) -> Record | None:
        """A trial at a uniformly random rotation and position."""
        proposal = self.propose(shape)
        return None if proposal is None else self.place(shape, *proposal, cluster=cluster)

    def next_to(self, shape: Shape, previous: Record, prev_shape: Shape, gap_vox: float,
                cluster: int) -> Record | None:
        """A SAWLC trial: the next chain member at a random direction from the previous one.

        The centres lie the sum of the two effective radii plus ``gap_vox`` apart (voxels).
        """
        distance = prev_shape.eff_radius_vox + shape.eff_radius_vox + gap_vox
        centre = np.rint(previous.centre_xyz + distance * random_unit(self.rng)).astype(int)
        return self.place(shape, self.rotations.next(), centre, cluster=cluster)

    def batch(self, shape: Shape, want: int, streak: FailureStreak, renderer: Renderer,
              on_place: Callable[[Record], None], batch: int = 8) -> None:
        """Random trials of one class until ``want`` are placed or ``streak`` is exhausted.

        Trials are proposed ``batch`` at a time (more at a time when trials keep
        failing); those that pass the broad phase are rendered by ``renderer``,
        then each is checked and committed in order, so the result does not
        depend on the renderer's threads.
        """
        placed = 0
        while placed < want:
            k = min(batch, max(want - placed, 2 + streak.run // 2))
            props = [self.propose(shape) for _ in range(k)]
            live = [p is not None and (self.model == "voxel" or not self.index.collides(
                rotated_balls(body_balls(shape, self.model), p[0], p[1]))) for p in props]
            renders = iter(renderer.map(lambda p: render(shape, p[0]), [p for p, ok in zip(props, live) if ok]))
            for p, ok in zip(props, live):
                rec = self.place(shape, p[0], p[1], rendered=next(renders)) if ok and p is not None else None
                streak.record(rec)
                if rec is None:
                    if streak.exhausted:
                        return
                    continue
                placed += 1
                on_place(rec)
                if placed >= want:
                    break


def quotas(total: int, names: list[str], weights: np.ndarray) -> dict[str, int]:
    """Split ``total`` by ``weights`` with the largest-remainder rule (deterministic)."""
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    raw = total * w
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return dict(zip(names, (int(v) for v in base)))
