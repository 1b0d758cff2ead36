"""Template matching: finding a planted template, normalisation invariances, filters, peaks, selection."""

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from classical_synth import asymmetric_template, plant  # noqa: E402

from baselines.template_matching import so3  # noqa: E402
from baselines.template_matching.correlation import LocalCorrelator, normalise_under_mask, rotate_batch  # noqa: E402
from baselines.template_matching.matching import PreparedTemplate, match_template, tile_bounds  # noqa: E402
from baselines.template_matching.peaks import extract_peaks  # noqa: E402
from baselines.template_matching.selection import false_alarm_cutoff, tm_f, tm_t  # noqa: E402
from baselines.template_matching.templates import (  # noqa: E402
    ctf_1d,
    electron_wavelength_a,
    first_zero_per_a,
    spherical_mask,
    wedge_mask,
)
from tomobench.euler import euler_to_matrix  # noqa: E402
from tomobench.rotate import rotate_volume  # noqa: E402

STEP = 20.0
C1 = so3.PointGroup()


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Two shared cores: one torch thread avoids oversubscription (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(3)
    template = asymmetric_template(21)
    truth = euler_to_matrix(40.0, 70.0, -100.0)
    volume = rng.normal(0.0, 0.5, (36, 44, 40)).astype(np.float32)
    plant(volume, rotate_volume(template, truth), (17, 20, 22))
    tpl = PreparedTemplate("a", template, spherical_mask(21, 8.0), 7.0, so3.sample_rotations(STEP), C1)
    return volume, tpl, truth


def test_finds_planted_template_position_and_angle(planted):
    volume, tpl, truth = planted
    scores, index = match_template(volume, tpl, tilt_range_deg=None, progress=False)
    zyx, values = extract_peaks(scores, 3, tpl.radius_vox)
    assert np.abs(zyx[0] - np.array([17, 20, 22])).max() <= 1
    assert values[0] > 2 * values[1]
    found = tpl.rotations[index[tuple(zyx[0])]]
    assert so3.angular_distance_deg(found, truth)[0, 0] <= STEP


def test_scores_invariant_to_scale_and_offset(planted):
    volume, tpl, _ = planted
    rots = tpl.rotations[:16]
    small = PreparedTemplate("a", tpl.template, tpl.mask, tpl.radius_vox, rots, C1)
    a, ia = match_template(volume, small, tilt_range_deg=None, progress=False)
    b, ib = match_template(3.7 * volume + 250.0, small, tilt_range_deg=None, progress=False)
    assert np.abs(a - b).max() < 1e-4
    assert a.max() <= 1.0 + 1e-5 and a.min() >= -1.0 - 1e-5


def test_ncc_equals_direct_masked_correlation_coefficient():
    rng = np.random.default_rng(0)
    volume = rng.normal(size=(20, 18, 16)).astype(np.float32)
    template = rng.normal(size=(7, 7, 7)).astype(np.float32)
    mask = spherical_mask(7, 2.5, 0.8)
    corr = LocalCorrelator(volume, mask)
    t = normalise_under_mask(torch.as_tensor(template)[None], torch.as_tensor(mask))
    ncc = corr.scores(t)[0].numpy()
    w = mask / mask.sum()
    for z, y, x in [(10, 9, 8), (3, 3, 3), (15, 4, 12)]:
        patch = np.take(np.take(np.take(volume, range(z - 3, z + 4), 0, mode="wrap"),
                                range(y - 3, y + 4), 1, mode="wrap"), range(x - 3, x + 4), 2, mode="wrap")
        mt, mv = (w * template).sum(), (w * patch).sum()
        cov = (w * (template - mt) * (patch - mv)).sum()
        expect = cov / np.sqrt((w * (template - mt) ** 2).sum() * (w * (patch - mv) ** 2).sum())
        assert ncc[z, y, x] == pytest.approx(expect, abs=1e-4)


def test_tiles_reproduce_the_whole_volume(planted):
    volume, tpl, _ = planted
    small = PreparedTemplate("a", tpl.template, tpl.mask, tpl.radius_vox, tpl.rotations[:8], C1)
    whole, _ = match_template(volume, small, tilt_range_deg=(-60, 60), progress=False)
    assert len(list(tile_bounds(volume.shape, 30 ** 3, 11))) > 1
    tiled, _ = match_template(volume, small, tilt_range_deg=(-60, 60), progress=False, tile_voxels=30 ** 3)
    assert np.abs(whole - tiled).max() < 1e-4


def test_batched_rotation_matches_rotate_volume():
    template = ndimage.gaussian_filter(asymmetric_template(15), 1.0)
    mats = euler_to_matrix([30.0, 0.0], [50.0, 90.0], [10.0, 0.0])
    out = rotate_batch(torch.as_tensor(template)[None, None], mats).numpy()
    inner = spherical_mask(15, 6.0, 0.0) > 0   # outside the box the two pad differently; masks cut it anyway
    for k in range(2):
        ref = rotate_volume(template, mats[k], order=1)
        assert np.abs(out[k] - ref)[inner].max() < 1e-3 * template.max()


def test_ctf_first_zero_matches_the_analytic_value():
    # With Cs = 0 and no amplitude contrast, CTF = -sin(pi lambda dz k^2): first zero at k = 1 / sqrt(lambda dz).
    lam = electron_wavelength_a(300.0)
    assert lam == pytest.approx(0.019687, abs=2e-5)
    k0 = first_zero_per_a(defocus_um=3.0, voltage_kv=300.0, cs_mm=0.0, amplitude_contrast=0.0)
    assert k0 == pytest.approx(1.0 / math.sqrt(lam * 3e4), rel=1e-4)
    assert ctf_1d(np.array([0.0]), defocus_um=3.0, voltage_kv=300.0, cs_mm=2.7, amplitude_contrast=0.08)[0] == \
        pytest.approx(-0.08)


def test_wedge_mask_by_hand():
    w = wedge_mask((16, 16, 16), -60.0, 60.0)          # rfft layout (kz, ky, kx)
    assert w[0, 0, 0] == 1 and w[0, 5, 3] == 1           # kz = 0 plane: sampled
    assert w[4, 0, 0] == 0 and w[4, 7, 0] == 0           # kx = 0, kz != 0: beam direction, missing
    assert w[1, 0, 4] == 1                               # 14 degrees from the kx axis
    assert w[7, 0, 1] == 0                               # 82 degrees: in the wedge
    assert wedge_mask((16, 16, 16), -90.0, 90.0).min() == 1.0


def naive_peaks(score_map: np.ndarray, n_max: int, radius_vox: float, *,
                min_score: float = -np.inf) -> tuple[np.ndarray, np.ndarray]:
    """The plain loop (whole-map arg-max each time): the reference :func:`extract_peaks` must equal."""
    work = np.array(score_map, dtype=np.float32)
    zz, yy, xx = np.indices(work.shape)
    found, scores = [], []
    while len(found) < n_max:
        i = int(np.argmax(work))
        best = float(work.flat[i])
        if not np.isfinite(best) or best < min_score:
            break
        p = np.array(np.unravel_index(i, work.shape))
        found.append(p)
        scores.append(best)
        work[(zz - p[0]) ** 2 + (yy - p[1]) ** 2 + (xx - p[2]) ** 2 <= radius_vox ** 2] = -np.inf
        work[tuple(p)] = -np.inf
    return np.array(found, dtype=int).reshape(-1, 3), np.array(scores, dtype=float)


def test_peaks_equal_the_naive_loop():
    m = np.random.default_rng(1).random((21, 30, 26)).astype(np.float32)
    a, sa = extract_peaks(m, 60, 3.0)
    b, sb = naive_peaks(m, 60, 3.0)
    assert np.array_equal(a, b) and np.allclose(sa, sb)
    d = np.linalg.norm(a[:, None] - a[None], axis=-1) + np.eye(len(a)) * 99
    assert d.min() > 3.0
    c, _ = extract_peaks(m, 1000, 3.0, min_score=0.9)
    assert len(c) and np.all(m[tuple(c.T)] >= 0.9)


def test_false_alarm_cutoff_known_value():
    # one-sided Gaussian tail P(Z > 4.753424) = 1e-6
    assert false_alarm_cutoff(1.0, 10 ** 6, 1, 1.0) == pytest.approx(4.753424, rel=1e-5)
    assert false_alarm_cutoff(0.5, 10 ** 5, 10, 1.0) == pytest.approx(0.5 * 4.753424, rel=1e-5)


def _cands(rows):
    return pd.DataFrame(rows, columns=["class", "x", "y", "z", "score"])


def test_tm_t_and_tm_f_by_hand():
    radii = {"big": 5.0, "small": 2.0}
    cands = _cands([
        ("big", 10, 10, 10, 0.9), ("big", 30, 10, 10, 0.8), ("big", 50, 10, 10, 0.1),
        ("small", 12, 10, 10, 0.7),   # 2 voxels from big #1: overlaps (2 < 5 + 2)
        ("small", 40, 10, 10, 0.6),   # 10 from big #2: free (10 > 7)
        ("small", 60, 10, 10, 0.5),
    ])
    n = {"big": 2, "small": 2}
    t = tm_t(cands, n, radii)
    assert list(zip(t["class"], t["x"])) == [("big", 10), ("big", 30), ("small", 12), ("small", 40)]
    f = tm_f(cands, n, radii)
    assert list(zip(f["class"], f["x"])) == [("big", 10), ("big", 30), ("small", 40), ("small", 60)]
