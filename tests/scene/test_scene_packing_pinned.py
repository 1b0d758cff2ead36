"""The packer's outcome for a fixed seed is pinned: a refactor of the packing code must keep it.

The fingerprints were computed with the packer before it became :class:`Packer`
(commit 89b105a). They cover positions, orientations, classes, clusters and the
pass reports (not the density, which the ice and the structures' physics change
on purpose). A deliberate change of the packing rules updates them, with a reason.
"""

import hashlib
import json

import numpy as np
import pytest

from generator.scene import SceneParams, build_scene
from generator.scene.synthetic import shrec_like_library

CASES = {
    "quotas, largest first, SAWLC clusters, fiducials": (
        dict(shape_xyz=(128, 128, 64), slab_thickness_vox=56, n_particles=120,
             clusters=dict(enabled=True, fraction=0.4, mean_size=4), fiducials=dict(count=2)),
        "0564e34a9811ceef"),
    "quotas, compaction and refill": (
        dict(shape_xyz=(96, 96, 48), slab_thickness_vox=None, n_particles=90, max_failures=30,
             compaction=dict(enabled=True, rounds=2, iterations=20)),
        "6ccb8bdc3c04404e"),
    "occupancy target, clusters, one render thread": (
        dict(shape_xyz=(96, 96, 48), slab_thickness_vox=40, occupancy=0.15, max_failures=30, render_threads=1,
             clusters=dict(enabled=True, fraction=0.3, mean_size=4)),
        "ff8756477a5c3692"),
}


def packing_fingerprint(params: SceneParams, seed: int = 11) -> str:
    """SHA-256 (16 hex digits) of the particle table, the id map and the packing reports."""
    scene = build_scene(shrec_like_library(), params, np.random.default_rng(seed))
    df = scene.particles.copy()
    for col in ("phi", "theta", "psi"):
        df[col] = df[col].round(6)
    report = scene.report.model_dump(mode="json", include={"particles", "compaction"}, exclude_unset=True)
    digest = hashlib.sha256()
    digest.update(df.to_csv(index=False).encode())
    digest.update(np.ascontiguousarray(scene.occupancy).tobytes())
    digest.update(json.dumps(report, sort_keys=True, default=lambda v: round(float(v), 9)).encode())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize("case", list(CASES))
def test_packing_outcome_is_pinned(case):
    kw, expected = CASES[case]
    assert packing_fingerprint(SceneParams(**kw)) == expected
