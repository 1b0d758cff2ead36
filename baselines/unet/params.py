"""Parameters of the U-Net baseline (``params.yaml`` section ``baselines.unet``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from tomobench.params import Params


class UNetParams(Params):
    """Defaults = the ``default`` preset: a ~0.1 M-parameter U-Net trained in minutes on 2 CPU cores."""

    seed: int = 0
    widths: list[int] = Field(default=[8, 16, 32], min_length=2, max_length=6,
                              description="channels per level; [32, 48, 64] is DeepFinder's layout")
    norm: Literal["group", "batch", "none"] = "batch"
    patch_vox: int = Field(default=32, ge=8, description="training patch edge (voxels)")
    batch_size: int = Field(default=4, ge=1)
    steps: int = Field(default=1800, ge=0, description="optimisation steps (Adam)")
    learning_rate: float = Field(default=2e-3, gt=0)
    loss: Literal["dice", "tversky"] = "dice"
    ce_weight: float = Field(default=0.5, ge=0, description="weight of a cross-entropy term added to the loss")
    tversky_alpha: float = Field(default=0.3, ge=0, le=1, description="weight of false positives")
    tversky_beta: float = Field(default=0.7, ge=0, le=1, description="weight of false negatives")
    rot90_z: bool = Field(default=False, description="also turn patches by 90 deg about z (moves the wedge)")
    val_tomograms: int = Field(default=1, ge=0, description="train tomograms held out for validation")
    val_every: int = Field(default=100, ge=1, description="steps between validations and checkpoints")
    val_patches: int = Field(default=16, ge=1)
    infer_patch_vox: int = Field(default=64, ge=8)
    infer_overlap_vox: int = Field(default=16, ge=0)
    infer_batch: int = Field(default=2, ge=1)
    min_size_fraction: float = Field(default=0.2, ge=0, description="drop components < this x median train size")
    max_size_factor: float | None = Field(default=None, gt=0, description="drop components > this x median size")
    connectivity: int = Field(default=1, ge=1, le=3, description="1: 6-, 2: 18-, 3: 26-connected components")
    threads: int = Field(default=2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"

    @field_validator("widths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(w < 1 for w in v):
            raise ValueError("widths must be positive")
        return v

    def check_patches(self) -> None:
        m = 2 ** (len(self.widths) - 1)
        for name in ("patch_vox", "infer_patch_vox"):
            if getattr(self, name) % m:
                raise ValueError(f"{name} must be a multiple of {m} for {len(self.widths)} levels")
        if self.infer_overlap_vox >= self.infer_patch_vox:
            raise ValueError("infer_overlap_vox must be smaller than infer_patch_vox")
