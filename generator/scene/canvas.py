"""The scene being built: density, class labels and particle ids on the tomogram grid.

Objects are added as crops (a density, a mask and the crop's first voxel), so no
step ever touches the whole volume. :meth:`Canvas.fits` is the voxel-exact
overlap test of the packer: an object fits if its mask lies inside the volume
and the sample slab and none of its voxels is already owned (touching allowed).
Ids are handed out in insertion order; :meth:`Canvas.finish` renumbers the
surviving objects 1..N (removed ones leave gaps while building).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Record:
    """One object of the scene (a particle, a membrane, a filament, a fiducial)."""

    id: int
    class_name: str
    label: int
    kind: str
    centre_xyz: np.ndarray             # integer voxel centre
    angles: np.ndarray | None          # ZXZ degrees (None: computed from ``matrix`` at the end)
    offset_zyx: np.ndarray             # crop origin relative to the centre (voxels)
    density: np.ndarray | None = None  # the crop, kept where the object may move (compaction)
    mask: np.ndarray | None = None
    matrix: np.ndarray | None = None
    cluster: int = 0
    voxels: int = 0
    bbox_zyx: tuple = ()               # (z0, y0, x0, z1, y1, x1), half-open, tomogram voxels
    extra: dict = field(default_factory=dict)

    def kept_crop(self) -> tuple[np.ndarray, np.ndarray]:
        """``(density, mask)`` of an object placed with ``keep_crop`` (only those can move)."""
        if self.density is None or self.mask is None:
            raise ValueError(f"object {self.id} ({self.class_name}) was placed without keeping its crop")
        return self.density, self.mask


class Canvas:
    """Mutable scene arrays (``[z, y, x]``) and the object records."""

    def __init__(self, shape_xyz: tuple[int, int, int], slab_z: tuple[int, int]):
        self.shape_zyx = tuple(int(v) for v in shape_xyz[::-1])
        self.slab_z = (int(slab_z[0]), int(slab_z[1]))
        self.density = np.zeros(self.shape_zyx, dtype=np.float32)
        self.labels = np.zeros(self.shape_zyx, dtype=np.uint16)
        self.ids = np.zeros(self.shape_zyx, dtype=np.uint32)
        self.records: dict[int, Record] = {}
        self._next_id = 1
        self._voxels_by_kind: dict[str, int] = {}

    # ------------------------------------------------------------------ geometry
    def _window(self, origin_zyx: np.ndarray, shape: tuple[int, ...]):
        """Slices of the volume and of the crop for a crop at ``origin_zyx`` (clipped)."""
        vol, crop = [], []
        for o, n, size in zip(origin_zyx, shape, self.shape_zyx):
            a, b = max(int(o), 0), min(int(o) + n, size)
            if b <= a:
                return None
            vol.append(slice(a, b))
            crop.append(slice(a - int(o), b - int(o)))
        return tuple(vol), tuple(crop)

    @staticmethod
    def mask_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Tight half-open box ``(lo, hi)`` of a mask's voxels in crop coordinates."""
        axes = [np.flatnonzero(mask.any(axis=tuple(j for j in range(3) if j != i))) for i in range(3)]
        if any(len(a) == 0 for a in axes):
            return None
        return np.array([a[0] for a in axes]), np.array([a[-1] + 1 for a in axes])

    def fits(self, origin_zyx: np.ndarray, mask: np.ndarray) -> bool:
        """Voxel-exact test: mask inside the volume and slab, and no voxel owned yet."""
        box = self.mask_box(mask)
        if box is None:
            return False
        lo, hi = origin_zyx + box[0], origin_zyx + box[1]
        if (lo < 0).any() or (hi > np.array(self.shape_zyx)).any():
            return False
        if lo[0] < self.slab_z[0] or hi[0] > self.slab_z[1]:
            return False
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        sub = mask[tuple(slice(int(a), int(b)) for a, b in zip(box[0], box[1]))]
        return not self.ids[sl][sub].any()

    # ------------------------------------------------------------------ editing
    def add(self, origin_zyx: np.ndarray, density: np.ndarray, mask: np.ndarray, *, class_name: str,
            label: int, kind: str, centre_xyz, angles, keep_crop: bool = False, matrix=None,
            cluster: int = 0) -> Record:
        """Add an object (call :meth:`fits` first); returns its record."""
        origin_zyx = np.asarray(origin_zyx, dtype=int)
        window = self._window(origin_zyx, density.shape)
        rid = self._next_id
        self._next_id += 1
        vol, crop = window
        self.density[vol] += density[crop]
        m = mask[crop]
        self.ids[vol][m] = rid
        self.labels[vol][m] = label
        box = self.mask_box(mask)
        if box is None:
            raise ValueError(f"the mask of {class_name!r} is empty: nothing to add")
        lo, hi = origin_zyx + box[0], origin_zyx + box[1]
        centre = np.asarray(centre_xyz, dtype=int)
        rec = Record(id=rid, class_name=class_name, label=int(label), kind=kind, centre_xyz=centre,
                     angles=None if angles is None else np.asarray(angles, dtype=float),
                     offset_zyx=origin_zyx - centre[::-1],
                     density=density if keep_crop else None, mask=mask if keep_crop else None,
                     matrix=matrix, cluster=cluster, voxels=int(m.sum()),
                     bbox_zyx=tuple(int(v) for v in (*lo, *hi)))
        self.records[rid] = rec
        self._voxels_by_kind[kind] = self._voxels_by_kind.get(kind, 0) + rec.voxels
        return rec

    def remove(self, rid: int) -> Record:
        """Take a kept-crop object out again (its density subtracted, its voxels freed)."""
        rec = self.records.pop(rid)
        self._voxels_by_kind[rec.kind] -= rec.voxels
        origin = rec.centre_xyz[::-1] + rec.offset_zyx
        density, mask = rec.kept_crop()
        vol, crop = self._window(origin, density.shape)
        self.density[vol] -= density[crop]
        m = mask[crop] & (self.ids[vol] == rid)
        self.ids[vol][m] = 0
        self.labels[vol][m] = 0
        return rec

    def move(self, rid: int, delta_zyx: np.ndarray) -> bool:
        """Translate a kept-crop object by ``delta_zyx`` voxels if it still fits there (voxel-exact)."""
        rec = self.records[rid]
        delta_zyx = np.asarray(delta_zyx, dtype=int)
        old = rec.centre_xyz[::-1] + rec.offset_zyx
        density, mask = rec.kept_crop()
        vol, crop = self._window(old, density.shape)
        own = mask[crop] & (self.ids[vol] == rid)
        self.ids[vol][own] = 0
        if not self.fits(old + delta_zyx, mask):
            self.ids[vol][own] = rid
            return False
        self.labels[vol][own] = 0
        self.density[vol] -= density[crop]
        vol, crop = self._window(old + delta_zyx, density.shape)
        self.density[vol] += density[crop]
        m = mask[crop]
        self.ids[vol][m] = rid
        self.labels[vol][m] = rec.label
        rec.centre_xyz = rec.centre_xyz + delta_zyx[::-1]
        shift = np.concatenate([delta_zyx, delta_zyx])
        rec.bbox_zyx = tuple(int(v) for v in np.array(rec.bbox_zyx) + shift)
        return True

    def occupied_voxels(self, kinds: tuple[str, ...] | None = None) -> int:
        """Voxels owned by objects of ``kinds`` (all objects when None)."""
        return sum(v for k, v in self._voxels_by_kind.items() if kinds is None or k in kinds)

    @property
    def slab_voxels(self) -> int:
        """Voxels of the sample slab."""
        return (self.slab_z[1] - self.slab_z[0]) * self.shape_zyx[1] * self.shape_zyx[2]

    def finish(self) -> tuple[list[Record], np.ndarray]:
        """Renumber the objects 1..N in insertion order; returns the records and the id map (uint32)."""
        records = [self.records[k] for k in sorted(self.records)]
        lut = np.zeros(self._next_id, dtype=np.uint32)
        for new, rec in enumerate(records, start=1):
            lut[rec.id] = new
            rec.id = new
            rec.density = rec.mask = None
        self.ids = lut[self.ids]
        self.records = {r.id: r for r in records}
        self._next_id = len(records) + 1
        return records, self.ids
