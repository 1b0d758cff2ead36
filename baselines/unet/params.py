"""Parameters of the U-Net baseline (``params.yaml`` section ``baselines.unet``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tomobench.params import Params


class UNetParams(Params):
    """Defaults = the ``default`` preset: a U-Net trained in minutes on 2 CPU cores (``make run``)."""

    seed: int = 0
    widths: list[int] = Field(default=[16, 32, 48], min_length=2, max_length=6,
                              description="channels per level (3 levels: receptive field 41 voxels, 4: 85); "
                                          "[32, 48, 64] is DeepFinder's layout")
    norm: Literal["group", "batch", "none"] = "batch"
    reposed_copies: int = Field(
        default=0, ge=0, description="copies of each fitted training tomogram with every particle turned in place "
                                     "to a random orientation (baselines.pasted: the template imaged as measured "
                                     "on the particles-removed tomogram, target voxels redrawn); 0: none")
    target_kind: Literal["mask", "sphere"] = Field(
        default="mask", description="training labels: the class mask, or a ball at each particle centre")
    sphere_fraction: float = Field(default=0.6, gt=0, description="ball radius / effective class radius (sphere)")
    sphere_min_radius_vox: float = Field(default=1.5, ge=0, description="smallest ball radius in voxels (sphere)")
    patch_vox: int = Field(default=32, ge=8, description="training patch edge (voxels)")
    batch_size: int = Field(default=4, ge=1)
    steps: int = Field(default=800, ge=0, description="optimisation steps (Adam) on the train tomograms")
    learning_rate: float = Field(default=3e-3, gt=0, description="peak learning rate")
    warmup_steps: int = Field(default=50, ge=0, description="linear warm-up, then cosine decay")
    lr_min_fraction: float = Field(default=0.05, ge=0, le=1, description="final lr / peak lr")
    ema_decay: float = Field(default=0.99, ge=0, lt=1, description="EMA of the weights (0: off)")
    loss: Literal["dice", "tversky", "ce"] = Field(
        default="tversky", description="overlap term of the loss (ce: none, the weighted cross-entropy alone)")
    ce_weight: float = Field(default=1.0, ge=0, description="weight of the cross-entropy term added to the loss")
    ce_class_power: float = Field(default=0.5, ge=0, le=1,
                                  description="CE class weights ∝ frequency^-power (0: unweighted)")
    tversky_alpha: float = Field(default=0.3, ge=0, le=1, description="weight of false positives")
    tversky_beta: float = Field(default=0.7, ge=0, le=1, description="weight of false negatives (> alpha)")
    rot90_z: bool = Field(default=False, description="also turn patches by 90 deg about z (moves the wedge)")
    val_tomograms: int = Field(default=1, ge=0, description="train tomograms held out for validation")
    val_every: int = Field(default=400, ge=1, description="steps between validations and checkpoints")
    val_metric: Literal["f1", "dice"] = Field(
        default="f1", description="f1: picks on the whole held-out tomogram; dice: hard Dice on val_patches")
    val_patches: int = Field(default=16, ge=1)
    final_fit_steps: int = Field(default=200, ge=0,
                                 description="steps on all train tomograms after selection (0: none)")
    final_fit_lr_fraction: float = Field(default=0.3, gt=0, le=1, description="peak lr of the final fit / lr")
    infer_patch_vox: int = Field(default=64, ge=8)
    infer_overlap_vox: int = Field(default=16, ge=0)
    infer_batch: int = Field(default=2, ge=1)
    tta: bool = Field(default=False, description="average the 4 wedge-safe proper rotations at inference "
                                                 "(4x the inference time; no gain measured at 800 steps)")
    # per-class peak picking (baselines.unet.peaks)
    nms_fraction: float = Field(default=0.5, gt=0, description="max-pool NMS half-width / class radius")
    peak_min_prob: float = Field(default=0.05, ge=0, le=1, description="lowest class probability of a peak")
    peak_smooth_sigma_vox: float = Field(default=1.0, ge=0, description="Gaussian blur of the maps before NMS")
    peak_max_per_class: int = Field(default=1000, ge=1, description="strongest peaks kept per class and tomogram")
    cross_nms_fraction: float = Field(
        default=0.0, ge=0, description="NMS across classes at this x the smaller class radius, before the "
                                       "thresholds (0: off); a particle then gives one pick, not one per class map")
    exclusive_peaks: bool = Field(default=True, description="a peak must be its voxel's most probable class")
    threshold_metric: Literal["localization", "class", "both"] = Field(
        default="both", description="what the held-out thresholds (and the selection) maximise: localization F1, "
                                    "mean per-class F1, or their mean (localization alone silences whole classes)")
    workers: int = Field(default=0, ge=0, description="DataLoader worker processes (0: in the main process)")
    amp: bool = Field(default=True, description="bf16 autocast on CUDA (CPU runs in fp32 always)")
    deterministic: bool = Field(default=True, description="deterministic CUDA kernels where torch has them")
    threads: int = Field(default=2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("widths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(w < 1 for w in v):
            raise ValueError("widths must be positive")
        return v

    @model_validator(mode="after")
    def _some_loss(self) -> "UNetParams":
        if self.loss == "ce" and self.ce_weight <= 0:
            raise ValueError("loss: ce needs ce_weight > 0 (otherwise there is nothing to train on)")
        return self

    @model_validator(mode="after")
    def _reposed_with_masks(self) -> "UNetParams":
        if self.reposed_copies and self.target_kind != "mask":
            raise ValueError("reposed_copies redraws class-mask targets; it needs target_kind: mask")
        return self

    def check_patches(self) -> None:
        """Check that the patch sizes fit the U-Net's depth and the inference overlap."""
        m = 2 ** (len(self.widths) - 1)
        for name in ("patch_vox", "infer_patch_vox"):
            if getattr(self, name) % m:
                raise ValueError(f"{name} must be a multiple of {m} for {len(self.widths)} levels")
        if self.infer_overlap_vox >= self.infer_patch_vox:
            raise ValueError("infer_overlap_vox must be smaller than infer_patch_vox")
