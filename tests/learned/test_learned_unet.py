"""U-Net: losses, one optimisation step, overfitting a tiny volume, sliding windows, augmentation, schedule,
EMA, resumable batches."""

import numpy as np
import pytest
import torch
from torch import nn

from baselines.torch_common import seed_everything, setup_torch
from baselines.unet.infer import predict_probs, predict_volume, window_starts
from baselines.unet.losses import class_weights, dice_loss, dice_scores, tversky_loss, weighted_cross_entropy
from baselines.unet.model import UNet3D, count_parameters
from baselines.unet.params import UNetParams
from baselines.unet.patches import PROPER_ROTATIONS, PatchSampler, augment, rotate, rotation_matrix
from baselines.unet.schedule import EMA, lr_factor
from baselines.unet.train import loss_fn, patch_class_counts, step_loader, train_unet
from tomobench.volumes import crop

setup_torch(2)


def spheres(rng, shape=(24, 24, 24)):
    """Two classes of spheres (radius 2.5, density 2 -> class 1; radius 4, density 1 -> class 2) in noise."""
    z, y, x = np.indices(shape)
    target = np.zeros(shape, np.uint8)
    centres = [(6, 6, 6, 2.5, 1), (6, 17, 16, 4, 2), (17, 7, 17, 4, 2), (17, 17, 6, 2.5, 1), (12, 12, 12, 2.5, 1)]
    for cz, cy, cx, r, c in centres:
        target[(z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= r * r] = c
    volume = np.choose(target, [0.0, 2.0, 1.0]).astype(np.float32) + rng.normal(0, 0.3, shape).astype(np.float32)
    return volume, target


def test_parameter_counts_of_the_layouts():
    assert 50_000 < count_parameters(UNet3D(13, (8, 16, 32))) < 1_000_000
    # DeepFinder's 32-48-64 layout is the larger option
    assert count_parameters(UNet3D(13, (32, 48, 64))) > 4 * count_parameters(UNet3D(13, (8, 16, 32)))


def test_shapes_and_one_step_lowers_the_loss(rng):
    seed_everything(0)
    model = UNet3D(3, (4, 8))
    x = torch.from_numpy(rng.normal(size=(2, 1, 8, 8, 8)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 3, (2, 8, 8, 8)))
    assert model(x).shape == (2, 3, 8, 8, 8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    before = dice_loss(model(x), y)
    before.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    opt.step()
    with torch.no_grad():
        after = dice_loss(model(x), y)
    assert float(after) < float(before.detach())


def test_dice_and_tversky_hand_computed():
    target = torch.tensor([[0, 0, 1, 1]])
    perfect = torch.tensor([[[9.0, 9, -9, -9], [-9, -9, 9, 9]]])  # [B, C, N]
    assert float(dice_loss(perfect, target)) == pytest.approx(0.0, abs=1e-4)
    # uniform prediction (p = 0.5 everywhere): per class TP = 1, FP = 1, FN = 1 -> index 0.5 for Dice
    flat = torch.zeros((1, 2, 4))
    assert float(dice_loss(flat, target)) == pytest.approx(0.5, abs=1e-4)
    # Tversky alpha = 0.3, beta = 0.7: 1 / (1 + 0.3 + 0.7) = 0.5 as well; alpha = 1, beta = 0: 1 / 2
    assert float(tversky_loss(flat, target, alpha=1.0, beta=0.0)) == pytest.approx(0.5, abs=1e-4)
    assert float(tversky_loss(flat, target, alpha=0.0, beta=0.0)) == pytest.approx(0.0, abs=1e-4)
    d = dice_scores(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 0, 0]), 4)
    assert d[0] == pytest.approx(2 * 1 / 4) and d[1] == pytest.approx(2 / 3) and d[2] == 0 and torch.isnan(d[3])


def test_unet_overfits_two_classes_of_spheres(rng):
    volume, target = spheres(rng)
    params = UNetParams(widths=[8, 16], patch_vox=16, batch_size=4, steps=120, val_every=60, norm="batch",
                        learning_rate=1e-2, warmup_steps=10)
    seed_everything(0)
    model, history = train_unet([volume], [target], 3, params, progress=False)
    labels = predict_volume(model, volume, patch=24, overlap=8, progress=False)
    dice = dice_scores(torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(target.astype(np.int64)), 3)
    assert float(dice[1:].mean()) > 0.9, dice


def test_augmentations_are_proper_rotations_that_keep_the_wedge(rng):
    for flips in PROPER_ROTATIONS:
        m = rotation_matrix(flips)
        assert np.linalg.det(m) == pytest.approx(1.0)          # a rotation, never a mirror
        # the missing wedge about y (beam z) is the set |k_z| > |k_x| tan(a): kept as a set by m
        k = rng.normal(size=(100, 3))                           # [k_z, k_y, k_x]
        km = k @ m.T
        assert np.allclose(np.abs(km[:, 0]), np.abs(k[:, 0])) and np.allclose(np.abs(km[:, 2]), np.abs(k[:, 2]))
    # a marked voxel moves as the matrix says (coordinates about the patch centre), image and label alike
    p = np.zeros((5, 6, 7), np.float32)
    p[1, 2, 3] = 1
    centre = (np.array(p.shape) - 1) / 2
    for i, flips in enumerate(PROPER_ROTATIONS):
        moved = np.argwhere(rotate(p, i))[0]
        assert np.allclose(moved - centre, rotation_matrix(flips) @ (np.array([1, 2, 3]) - centre))
        assert np.array_equal(rotate(rotate(p, i), i), p)      # each is its own inverse
    x = rng.normal(size=(6, 6, 6)).astype(np.float32)
    y = (x > 0).astype(np.uint8)
    seen = set()
    for _ in range(40):
        xa, ya = augment(x, y, rng)
        assert np.array_equal(ya, (xa > 0).astype(np.uint8))   # labels follow the image
        seen.add(xa.tobytes())
    mirrors = [np.flip(x, a).tobytes() for a in range(3)]
    assert len(seen) == 4 and not seen & set(mirrors)          # the 4 rotations, no single-axis mirror


def test_lr_schedule_and_ema_hand_computed():
    assert lr_factor(0, 100, warmup=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, warmup=10) == pytest.approx(1.0)
    assert lr_factor(10, 100, warmup=10, min_fraction=0.0) == pytest.approx(1.0)
    assert lr_factor(99, 100, warmup=10, min_fraction=0.05) == pytest.approx(0.05)
    mid = 10 + 89 / 2                                          # half way through the cosine
    assert lr_factor(int(mid), 100, warmup=10, min_fraction=0.0) == pytest.approx(0.5, abs=0.02)
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.5)
    expected = 0.0
    for n, w in enumerate([1.0, 2.0, 4.0]):
        with torch.no_grad():
            net.weight.fill_(w)
        d = min(0.5, (1 + n) / (10 + n))                       # 0.1, 2/11, 0.25
        expected = d * expected + (1 - d) * w
        ema.update(net)
        assert float(ema.model.weight) == pytest.approx(expected)
    assert expected == pytest.approx(0.25 * (2 / 11 * 0.9 + 9 / 11 * 2) + 0.75 * 4)


def test_class_weights_and_weighted_ce_hand_computed():
    counts = np.array([900, 90, 10, 0])
    w1 = class_weights(counts, 1.0).double()
    f = torch.tensor(counts / 1000.0)
    assert float((f * w1).sum()) == pytest.approx(1.0)                   # mean weight per voxel is 1
    assert (f[:3] * w1[:3]).tolist() == pytest.approx([1 / 3] * 3)      # power 1: equal total weight
    assert float(w1[3]) == pytest.approx(float(w1[2]))                  # absent class: the largest weight
    assert class_weights(counts, 0.0).tolist() == pytest.approx([1, 1, 1, 1])
    w = class_weights(counts, 0.5).double()
    assert float(w[2] / w[0]) == pytest.approx(np.sqrt(90.0))           # (f0 / f2) ** 0.5
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    y = torch.tensor([0, 2])
    ce = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    wt = torch.tensor([1.0, 1.0, 5.0, 1.0])
    assert float(weighted_cross_entropy(logits, y, wt)) == pytest.approx(float((ce[0] + 5 * ce[1]) / 2))
    # loss: ce is ce_weight x the weighted cross-entropy alone; tversky adds the Tversky term
    l5 = logits[None, :, :, None, None].permute(0, 2, 1, 3, 4)       # [1, C=4, 2, 1, 1]
    y5 = y[None, :, None, None]
    ce_only = loss_fn(UNetParams(loss="ce", ce_weight=2.0), wt)(l5, y5)
    assert float(ce_only) == pytest.approx(2 * float((ce[0] + 5 * ce[1]) / 2))
    both = loss_fn(UNetParams(loss="tversky", ce_weight=2.0), wt)(l5, y5)
    assert float(both - ce_only) == pytest.approx(float(tversky_loss(l5, y5, alpha=0.3, beta=0.7)))
    with pytest.raises(ValueError, match="ce_weight"):
        UNetParams(loss="ce", ce_weight=0)


def test_batches_depend_on_seed_and_step_only(rng):
    volume, target = spheres(rng)
    make = lambda: PatchSampler([volume], [target], 3, 8, np.random.default_rng(0), seed=7)  # noqa: E731
    a, b = make(), make()
    x1, y1 = a.batch(5, 2)
    b.batch(0, 2)                                               # other draws in between change nothing
    x2, y2 = b.batch(5, 2)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(a.batch(6, 2)[0], x1)
    loaded = [(x.numpy(), y.numpy()) for x, y in step_loader(a, 2, 4, 7)]
    assert len(loaded) == 3 and np.array_equal(loaded[1][0], x1)   # step 5 is the second of 4..6
    counts = patch_class_counts(a, 3, n_batches=2, batch_size=2)
    assert counts.sum() == 2 * 2 * 8 ** 3 and (counts > 0).all()


def test_crop_pads_outside_the_volume():
    v = np.arange(27, dtype=np.float32).reshape(3, 3, 3) + 1
    c = crop(v, np.array([-1, 1, 2]), 3)
    assert c[0].sum() == 0  # z = -1 lies outside
    assert c[1, 0, 0] == v[0, 1, 2] and c[1, 0, 1] == 0  # x = 3 lies outside


class Threshold(nn.Module):
    """A fixed 'network': class 1 where the input is positive (logits -x, x)."""

    n_classes = 2

    def forward(self, x):
        return torch.cat([-x, x], dim=1) * 10


def test_sliding_window_equals_whole_volume_prediction(rng):
    v = rng.normal(size=(20, 27, 13)).astype(np.float32)
    labels = predict_volume(Threshold(), v, patch=8, overlap=3, progress=False)
    assert labels.shape == v.shape
    assert np.array_equal(labels, (v > 0).astype(np.uint8))
    probs = predict_probs(Threshold(), v, patch=8, overlap=3, progress=False)
    assert np.allclose(probs.sum(0).numpy(), 1, atol=1e-5)
    # the voxel-wise 'network' commutes with rotations: test-time augmentation changes nothing
    tta = predict_probs(Threshold(), v, patch=8, overlap=3, progress=False, tta=True)
    assert torch.allclose(tta, probs, atol=1e-6)


class Corner(nn.Module):
    """A 'network' that is not rotation-equivariant: class 1 wherever z < 2 inside the window."""

    n_classes = 2

    def forward(self, x):
        z = torch.arange(x.shape[2]).view(1, 1, -1, 1, 1).expand_as(x)
        one = (z < 2).float() * 20 - 10
        return torch.cat([-one, one], dim=1)


def test_tta_averages_rotated_predictions():
    v = np.zeros((8, 8, 8), np.float32)
    plain = predict_probs(Corner(), v, patch=8, overlap=0, progress=False)
    tta = predict_probs(Corner(), v, patch=8, overlap=0, progress=False, tta=True)
    assert float(plain[1, 0, 4, 4]) == pytest.approx(1.0) and float(plain[1, 7, 4, 4]) == pytest.approx(0.0, abs=1e-6)
    # two of the four rotations (about y and about x) turn z over: half the votes at each end
    assert float(tta[1, 0, 4, 4]) == pytest.approx(0.5) and float(tta[1, 7, 4, 4]) == pytest.approx(0.5)
    assert window_starts(20, 8, 5) == [0, 5, 10, 12] and window_starts(5, 8, 5) == [0]


def test_same_seed_same_weights_and_an_interrupted_run_resumes_exactly(rng, tmp_path):
    volume, target = spheres(rng, (16, 16, 16))
    params = UNetParams(widths=[4, 8], patch_vox=8, batch_size=2, steps=4, val_every=2, warmup_steps=1)

    def score(model):  # any deterministic function of the weights
        return float(sum(p.double().sum() for p in model.parameters()))

    def run(checkpoint=None, validate=score):
        torch.manual_seed(0)
        model, _ = train_unet([volume], [target], 3, params, validate=validate, checkpoint=checkpoint,
                              digest="d", progress=False)
        return [p.detach().clone() for p in model.state_dict().values()]

    first, second = run(), run()
    assert all(torch.equal(a, b) for a, b in zip(first, second))   # CPU: bit for bit

    calls = []

    def failing(model):
        calls.append(1)
        if len(calls) == 2:                                         # dies at the step-4 validation
            raise KeyboardInterrupt
        return score(model)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "ck.pt", failing)                            # leaves the step-2 checkpoint
    resumed = run(tmp_path / "ck.pt")
    assert all(torch.equal(a, b) for a, b in zip(first, resumed))
