"""Parameters of the classifier CNN (``params.yaml`` section ``baselines.cnn``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tomobench.params import Params


class CNNParams(Params):
    """Defaults = the ``default`` preset (minutes on 2 CPU cores)."""

    seed: int = 0
    box_vox: int = Field(default=24, ge=12, description="subtomogram edge (voxels)")
    width: int = Field(default=16, ge=1, description="channels of the first convolutions")
    hidden: int = Field(default=128, ge=1)
    dropout: float = Field(default=0.3, ge=0, lt=1)
    epochs: int = Field(default=8, ge=0)
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    jitter_fraction: float = Field(default=0.5, ge=0, description="particle boxes shifted up to this x radius")
    jitter_copies: int = Field(default=1, ge=1, description="jittered boxes per training particle")
    background_ratio: float = Field(default=0.5, ge=0,
                                    description="background boxes (unmatched DoG candidates first) per particle box")
    background_min_distance_vox: float = Field(default=8.0, ge=0)
    pasted_per_class: int = Field(default=0, ge=0, description="extra training boxes per class: its template "
                                  "turned at random, imaged as measured on the training tomograms and pasted "
                                  "in place of a real particle (baselines.pasted); 0: none")
    val_tomograms: int = Field(default=1, ge=0)
    # DoG candidates (local step; see baselines.classifier.candidates)
    candidate_source: Literal["dog_grid", "multiscale"] = Field(
        default="dog_grid", description="dog_grid: the DoG baseline's picks, the CNN assigns classes (and may "
                                        "reject); multiscale: one DoG per size group, the CNN also detects")
    dog_grid_sigma_factors: list[float] = Field(default=[0.5, 0.7, 1.0, 1.4], min_length=1,
                                                description="dog_grid: scales tried, x median radius / sqrt(3)")
    dog_grid_t: list[float] = Field(default=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0], min_length=1,
                                    description="dog_grid: thresholds t of T = m + t (M - m) / 20 tried")
    dog_grid_ratio: float = Field(default=1.1, gt=1, description="dog_grid: sigma2 / sigma1 of the DoG")
    dog_grid_nms: bool = Field(default=True, description="dog_grid: NMS of the assigned picks at "
                                                         "nms_radius_fraction x the class radius")
    dog_sigma_vox: float | None = Field(default=None, gt=0,
                                        description="multiscale: one DoG scale; None: one per size group")
    dog_ratio: float = Field(default=1.6, gt=1)
    candidate_min_distance_vox: float = Field(default=5.0, gt=0, description="peak distance of the one-scale DoG")
    max_candidates: int = Field(default=3000, ge=1)
    candidate_quantile: float = Field(default=0.9, ge=0, lt=1, description="keep peaks above this DoG quantile")
    nms_radius_fraction: float = Field(default=1.0, gt=0, description="NMS of the picks at this x class radius")
    min_probability: float = Field(default=0.3, ge=0, le=1,
                                   description="lowest pick probability (per-class thresholds tuned above it)")
    threshold_metric: Literal["localization", "class", "both"] = "both"
    threads: int = Field(default=2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"


class SubtomoTaskParams(Params):
    """The subtomogram classification task of Xu et al. (2017), scaled down."""

    seed: int = 0
    box_vox: int = Field(default=24, ge=12)
    snrs: list[float] = Field(default=[1000, 0.5, 0.1, 0.05, 0.03], min_length=1)
    tilt_max_deg: list[float] = Field(default=[60, 50, 40], min_length=1)
    n_per_class: int = Field(default=40, ge=2, description="subtomograms per class (half train, half test)")
    max_shift_vox: float = Field(default=2.0, ge=0, description="random translation of the particle")
    include_empty: bool = True
    kmeans_k: int | None = Field(default=None, ge=1, description="clusters for the purity (None: #classes)")
    classes: list[str] | None = Field(default=None, description="class names to use (None: all with a template)")
    snr_definition: Literal["volume", "projection"] = Field(
        default="volume", description="volume: SNR of the reconstructed subtomogram, white noise in the sampled "
                                      "Fourier region; projection: SNR of each tilt image (Xu et al. 2017, after "
                                      "Förster et al. 2008), noise added per image and reconstructed by direct "
                                      "Fourier inversion")
    noise_level: Literal["dataset", "particle"] = Field(
        default="dataset", description="dataset: one noise level, from the mean signal variance over the "
                                       "classes; particle: each box at its own particle's SNR (empty boxes: "
                                       "the dataset's), as a per-image SNR reads")
    tilt_step_deg: float = Field(default=2.0, gt=0, le=30,
                                 description="projection: tilt increment (±60° in 2° steps: 61 images)")
    optics: Literal["none", "ctf_mtf"] = Field(
        default="none", description="ctf_mtf: every image (signal and, for snr_definition projection, its "
                                    "noise) through the CTF below and the MTF sinc(pi w / 2), w = k / Nyquist")
    voxel_size_a: float | None = Field(default=None, gt=0, description="voxel of the boxes (None: the "
                                       "library's; another value resamples the templates, order 1)")
    defocus_um: float = Field(default=5.0, gt=0, description="ctf_mtf: underfocus (the paper's -5 µm)")
    voltage_kv: float = Field(default=300.0, gt=0)
    cs_mm: float = Field(default=2.0, ge=0)
    amplitude_contrast: float = Field(default=0.07, ge=0, lt=1, description="ctf_mtf: not stated in the paper")
    curve_every_epochs: int = Field(default=0, ge=0, description="also score the test half after every k-th "
                                    "epoch (accuracy_by_epoch, a learning curve; never selects the model); 0: off")
