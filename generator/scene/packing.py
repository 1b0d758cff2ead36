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

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy.spatial import cKDTree

from generator.scene.canvas import Canvas, Record
from generator.scene.geometry import random_unit
from generator.scene.templates import Shape, render, rotated_balls
from tomobench.euler import random_rotations


class BallIndex:
    """Placed balls (x, y, z, r in voxels) with a fast 'does this body overlap any ball' query."""

    def __init__(self):
        self._frozen = np.zeros((0, 4))
        self._frozen_owner = np.zeros(0, dtype=int)
        self._tree: cKDTree | None = None
        self._pending: list[np.ndarray] = []
        self._pending_owner: list[np.ndarray] = []
        self._max_r = 0.0

    def add(self, balls: np.ndarray, owner: int) -> None:
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
    """Uniform random rotations drawn from ``rng`` in batches (cheaper than one at a time)."""

    def __init__(self, rng: np.random.Generator, batch: int = 256):
        self.rng, self.batch, self._left = rng, batch, np.zeros((0, 3, 3))

    def next(self) -> np.ndarray:
        if not len(self._left):
            self._left = random_rotations(self.batch, self.rng)
        out, self._left = self._left[0], self._left[1:]
        return out


def draw_rotation(rng: np.random.Generator, canvas: Canvas | None = None) -> np.ndarray:
    """One uniform rotation; batches are kept on the scene's canvas (no state shared between scenes)."""
    if canvas is None:
        return random_rotations(1, rng)[0]
    pool = getattr(canvas, "rotations", None)
    if pool is None or pool.rng is not rng:
        pool = canvas.rotations = RotationPool(rng)
    return pool.next()


def body_balls(shape: Shape, model: str) -> np.ndarray:
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


def propose(canvas: Canvas, shape: Shape, rng: np.random.Generator, model: str):
    """A uniformly random rotation and an integer centre where the rotated balls fit; None if none does."""
    matrix = draw_rotation(rng, canvas)
    lo, hi = centre_range(rotated_balls(body_balls(shape, model), matrix, (0, 0, 0)),
                          canvas.shape_zyx[::-1], canvas.slab_z)
    if (hi < lo).any():
        return None
    return matrix, rng.integers(lo, hi + 1)


def random_trial(canvas: Canvas, index: BallIndex, shape: Shape, rng: np.random.Generator, model: str,
                 **kw) -> Record | None:
    """A trial at a uniformly random rotation and position."""
    proposal = propose(canvas, shape, rng, model)
    return None if proposal is None else try_place(canvas, index, shape, *proposal, model, **kw)


_EXECUTOR: ThreadPoolExecutor | None = None


def _map(fn, items: list, threads: int) -> list:
    """``map`` on a shared thread pool (scipy.ndimage releases the GIL while it interpolates)."""
    global _EXECUTOR
    if threads <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    if _EXECUTOR is None or _EXECUTOR._max_workers != threads:
        _EXECUTOR = ThreadPoolExecutor(max_workers=threads)
    return list(_EXECUTOR.map(fn, items))


def place_batch(canvas: Canvas, index: BallIndex, shape: Shape, rng: np.random.Generator, model: str,
                want: int, max_failures: int, *, threads: int = 2, batch: int = 8, on_place=None,
                **kw) -> tuple[int, int, bool]:
    """Random trials of one class until ``want`` are placed or ``max_failures`` fail in a row.

    Trials are proposed ``batch`` at a time, those that pass the broad phase are
    rendered in parallel, then each is checked and committed in order, so the
    result does not depend on ``threads``. Returns ``(trials, failures, exhausted)``.
    """
    placed = trials = failures = consecutive = 0
    while placed < want:
        k = min(batch, max(want - placed, 2 + consecutive // 2))   # more at a time when trials keep failing
        props = [propose(canvas, shape, rng, model) for _ in range(k)]
        live = [p is not None and (model == "voxel" or
                                   not index.collides(rotated_balls(body_balls(shape, model), p[0], p[1])))
                for p in props]
        renders = iter(_map(lambda p: render(shape, p[0]), [p for p, ok in zip(props, live) if ok], threads))
        for p, ok in zip(props, live):
            trials += 1
            rec = try_place(canvas, index, shape, *p, model, rendered=next(renders), **kw) if ok else None
            if rec is None:
                failures += 1
                consecutive += 1
                if consecutive >= max_failures:
                    return trials, failures, True
                continue
            consecutive = 0
            placed += 1
            if on_place is not None:
                on_place(rec)
            if placed >= want:
                break
    return trials, failures, False


def cluster_trial(canvas: Canvas, index: BallIndex, shape: Shape, previous: Record, prev_shape: Shape,
                  rng: np.random.Generator, model: str, gap_vox: float, **kw) -> Record | None:
    """A SAWLC trial: the next chain member at a random direction from the previous one."""
    distance = prev_shape.eff_radius_vox + shape.eff_radius_vox + gap_vox
    centre = np.rint(previous.centre_xyz + distance * random_unit(rng)).astype(int)
    return try_place(canvas, index, shape, draw_rotation(rng, canvas), centre, model, **kw)


def quotas(total: int, names: list[str], weights: np.ndarray) -> dict[str, int]:
    """Split ``total`` by ``weights`` with the largest-remainder rule (deterministic)."""
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    raw = total * w
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    return dict(zip(names, (int(v) for v in base)))
