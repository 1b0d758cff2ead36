"""Invariants of the scorer (hypothesis): perfect submissions and extra background picks."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import score_particles
from tomobench.classes import ClassTable
from tomobench.groundtruth import GroundTruth
from tomobench.particles import make_particles
from tomobench.testing import sphere_occupancy

TABLE = ClassTable.from_records([{"class_name": n, "label": i + 1, "mass_kda": m}
                                 for i, (n, m) in enumerate([("s", 100), ("m", 400), ("l", 900)])])


@st.composite
def truths(draw):
    """Non-overlapping spheres (radius 1-3) at grid positions of a 32^3 box, random classes."""
    slots = [(x, y, z) for x in range(5, 28, 8) for y in range(5, 28, 8) for z in range(5, 28, 8)]
    chosen = draw(st.lists(st.sampled_from(slots), min_size=1, max_size=12, unique=True))
    classes = draw(st.lists(st.sampled_from(["s", "m", "l"]), min_size=len(chosen), max_size=len(chosen)))
    radii = draw(st.lists(st.integers(1, 3), min_size=len(chosen), max_size=len(chosen)))
    occupancy = sphere_occupancy((32, 32, 32), chosen, radii)
    particles = make_particles(classes, chosen)
    return {"t": GroundTruth("t", None, particles, occupancy, 10.0, TABLE)}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(truths())
def test_exact_centres_with_true_classes_score_perfectly(truth):
    particles = truth["t"].particles
    r = score_particles(particles.copy(), truth)
    assert r["precision"] == r["recall"] == r["f1"] == 1.0
    assert r["AD"] == 0.0 and r["FP"] == 0 and r["FN"] == 0 and r["MH"] == 0
    assert all(v["f1"] == 1.0 for v in r["per_class"].values() if v["tp"] + v["fn"] > 0)
    # F-beta averages over the classes present, so a perfect submission scores 1 whatever is absent
    assert r["fbeta"]["score"] == 1.0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(truths(), st.data())
def test_a_background_pick_lowers_precision_and_nothing_else(truth, data):
    particles = truth["t"].particles
    occupancy = truth["t"].occupancy
    # a voxel whose whole 6-neighbourhood is background, so the dilated mask is background there too
    from scipy import ndimage
    free = np.argwhere(ndimage.grey_dilation(occupancy, footprint=ndimage.generate_binary_structure(3, 1)) == 0)
    z, y, x = free[data.draw(st.integers(0, len(free) - 1))]
    base = score_particles(particles.copy(), truth)
    extra = make_particles(list(particles["class"]) + ["s"],
                           np.vstack([particles[["x", "y", "z"]].to_numpy(), [x, y, z]]))
    more = score_particles(extra, truth)
    assert more["precision"] < base["precision"]
    assert more["FP"] == base["FP"] + 1 and more["RR"] == base["RR"] + 1
    for key in ("TP", "FN", "MH", "RO", "AD", "recall", "confusion", "per_class", "size_groups"):
        assert more[key] == base[key], key
