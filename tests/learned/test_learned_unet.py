"""U-Net: loss, one optimisation step, overfitting a tiny volume, sliding windows, post-processing."""

import numpy as np
import pytest
import torch
from torch import nn

from baselines.torch_common import seed_everything, setup_torch
from baselines.unet.infer import predict_volume, window_starts
from baselines.unet.losses import dice_loss, dice_scores, tversky_loss
from baselines.unet.model import UNet3D, count_parameters
from baselines.unet.params import UNetParams
from baselines.unet.patches import augment
from baselines.unet.postprocess import segmentation_to_particles, size_limits
from baselines.unet.train import train_unet
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
                        learning_rate=1e-2, ce_weight=0.5)
    model, history = train_unet([volume], [target], 3, params, seed_everything(0), progress=False)
    labels = predict_volume(model, volume, patch=24, overlap=8, progress=False)
    dice = dice_scores(torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(target.astype(np.int64)), 3)
    assert float(dice[1:].mean()) > 0.9, dice


def test_augment_keeps_image_and_label_aligned(rng):
    x = rng.normal(size=(6, 6, 6)).astype(np.float32)
    y = (x > 0).astype(np.uint8)
    for _ in range(8):
        xa, ya = augment(x, y, rng, rot90_z=True)
        assert np.array_equal(ya, (xa > 0).astype(np.uint8))


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
    labels, probs = predict_volume(Threshold(), v, patch=8, overlap=3, progress=False, return_probs=True)
    assert labels.shape == v.shape
    assert np.array_equal(labels, (v > 0).astype(np.uint8))
    assert np.allclose(probs.sum(0), 1, atol=1e-5)
    assert window_starts(20, 8, 5) == [0, 5, 10, 12] and window_starts(5, 8, 5) == [0]


def test_postprocessing_of_a_hand_made_segmentation():
    seg = np.zeros((10, 12, 14), np.uint8)
    seg[1:4, 1:4, 1:4] = 1                 # 27 voxels of class 1, centroid (x, y, z) = (2, 2, 2)
    seg[2, 2, 2] = 2                       # one voxel voting for class 2: the majority stays 1
    seg[5:8, 6:10, 8:10] = 2               # 24 voxels of class 2, centroid (8.5, 7.5, 6)
    seg[8, 0, 13] = 1                      # a 1-voxel speck of class 1: below the size filter
    names = ["background", "a", "b"]
    df = segmentation_to_particles(seg, names, min_size={"a": 5, "b": 5}, tomo="t0")
    assert len(df) == 2
    got = {r["class"]: (r.x, r.y, r.z, r.score) for _, r in df.iterrows()}
    assert got["a"][:3] == pytest.approx((2, 2, 2)) and got["a"][3] == pytest.approx(26 / 27)
    assert got["b"][:3] == pytest.approx((8.5, 7.5, 6))
    assert set(df["tomo"]) == {"t0"}
    # a maximum size drops the larger particle; no filter keeps the speck too
    assert list(segmentation_to_particles(seg, names, min_size=5, max_size=25)["class"]) == ["b"]
    assert len(segmentation_to_particles(seg, names)) == 3
    lo, hi = size_limits({"a": [10, 20, 30]}, min_fraction=0.5, max_factor=2)
    assert lo == {"a": 10.0} and hi == {"a": 40.0}
