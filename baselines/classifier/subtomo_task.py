"""The subtomogram classification task of Xu et al. (2017), scaled down.

For each (SNR, tilt range) of a grid, a dataset of single-particle subtomograms
is simulated from the public structure library (``PUBLIC/structures``:
``classes.csv`` + ``<class>.mrc`` templates) plus empty ones, split into train
and test halves; a CNN is trained on one half and scored on the other
(accuracy, per-class F1, confusion matrix), and its pre-softmax outputs are
clustered with k-means to measure cluster purity (the paper's Section 2.3).

Simulation of one subtomogram (all in one Fourier transform):
the template is turned by a uniformly random rotation (``tomobench.rotate``),
shifted by a random sub-voxel translation of at most ``max_shift_vox`` per axis
(a phase ramp), white Gaussian noise is added, and only the Fourier
coefficients a single-axis tilt series samples are kept: tilt axis y, beam
along z, so the kept region is ``|k_z| <= |k_x| tan(tilt_max)`` (the missing
wedge lies around ``k_z``), the DC term included. Noise passes the same mask, as
it does in a reconstruction. **SNR** = variance of the masked noise-free
particle / variance of the masked noise, with the signal variance the mean
over the classes of the dataset's noise-free masked particles: one noise level
per dataset (as one dose per acquisition), empty boxes included (``noise_level:
dataset``; ``particle`` gives every box the noise of its own particle's SNR, empty boxes
the dataset's level: then the noise amplitude itself tells large particles from small
ones). This is ``snr_definition: volume`` (the default).

``snr_definition: projection`` is the paper's (Xu et al. 2017, Section 3.1.1: "We added
noise to electron micrograph images [16] to achieve the desired SNR levels", [16] =
Förster et al. 2008): the SNR is that of each tilt image. The tilt series (``±tilt_max``
in ``tilt_step_deg`` steps) is not projected in real space: by the Fourier slice theorem
the 2D DFT of the tilt-``a`` image is the central plane ``(k_z, k_y, k_x) = (-u sin a, v,
u cos a)`` of the particle's 3D DFT, so the noise-free reconstruction is the particle's
DFT on the voxels those planes reach (nearest-neighbour direct Fourier inversion, the
grid :func:`dfi_geometry` computes). The noise is drawn per image (white, variance
``var(image) / SNR`` with ``var(image)`` the mean variance of the noise-free images over
the dataset's classes), Fourier-transformed, put on the grid at the same voxels and
averaged where several images meet (:func:`dfi_noise`), as a direct Fourier inversion
does: near the origin many tilts average, so the subtomogram's SNR is far above the
images' (:func:`volume_snr_of_projection_snr` measures it).

``optics: ctf_mtf`` multiplies every image by the paper's CTF (defocus -5 µm, Cs 2 mm,
300 kV; amplitude contrast not stated, 0.07 here) and MTF ``sinc(pi w / 2)``, ``w`` the
fraction of Nyquist (radially, no defocus gradient across an image). With
``snr_definition: projection`` the noise passes it too (the paper adds the noise first);
with ``volume`` the white noise is added to the filtered subtomogram.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from baselines.classifier.metrics import accuracy, confusion_matrix, kmeans_purity, per_class_f1
from baselines.classifier.params import CNNParams, SubtomoTaskParams
from baselines.classifier.train import predict_logits, train_classifier
from baselines.template_matching.templates import ctf_1d
from baselines.template_matching.templates import wedge_mask as template_wedge_mask
from tomobench.classes import read_classes
from tomobench.errors import InputError
from tomobench.euler import random_rotations
from tomobench.rotate import rotate_volume
from tomobench.volumes import read_volume

EMPTY = "empty"


def load_templates(structures_dir: str | Path, names: list[str] | None = None, *,
                   voxel_size_a: float | None = None) -> dict[str, np.ndarray]:
    """Scored protein templates of a structure library folder (``classes.csv`` + ``<class>.mrc``).

    ``voxel_size_a``: resample every template to this voxel (linear interpolation; None keeps the
    library's). Use :func:`library_voxel_size_a` for the library's voxel.
    """
    folder = Path(structures_dir)
    table = read_classes(folder / "classes.csv")
    wanted = names or [n for n in table.scored_names if (folder / f"{n}.mrc").is_file()]
    out = {}
    for name in wanted:
        path = folder / f"{name}.mrc"
        if not path.is_file():
            raise InputError(f"no template {name}.mrc for class {name!r}", folder)
        data, voxel_a = read_volume(path)
        data = data.astype(np.float32)
        if voxel_size_a is not None and not math.isclose(voxel_size_a, voxel_a, rel_tol=1e-4):
            data = ndimage.zoom(data, voxel_a / voxel_size_a, order=1).astype(np.float32)
        out[name] = data
    if len(out) < 1:
        raise InputError("the structure library holds no template of a scored class", folder)
    return out


def library_voxel_size_a(structures_dir: str | Path, name: str) -> float:
    """Voxel size (Å) of the template ``<name>.mrc`` of a library folder."""
    return float(read_volume(Path(structures_dir) / f"{name}.mrc", mmap=True)[1])


@dataclass(frozen=True)
class Imaging:
    """How a subtomogram is imaged and what its SNR means (see the module docstring)."""

    snr_definition: Literal["volume", "projection"] = "volume"
    noise_level: Literal["dataset", "particle"] = "dataset"
    tilt_step_deg: float = 2.0
    optics: Literal["none", "ctf_mtf"] = "none"
    voxel_size_a: float = 10.0
    defocus_um: float = 5.0
    voltage_kv: float = 300.0
    cs_mm: float = 2.0
    amplitude_contrast: float = 0.07

    def __post_init__(self):
        if self.snr_definition not in ("volume", "projection"):
            raise ValueError(f"snr_definition must be volume or projection, not {self.snr_definition!r}")
        if self.noise_level not in ("dataset", "particle"):
            raise ValueError(f"noise_level must be dataset or particle, not {self.noise_level!r}")
        if self.optics not in ("none", "ctf_mtf"):
            raise ValueError(f"optics must be none or ctf_mtf, not {self.optics!r}")
        if not (self.tilt_step_deg > 0 and self.voxel_size_a > 0):
            raise ValueError("tilt_step_deg and voxel_size_a must be > 0")


def tilt_angles_deg(tilt_max_deg: float, tilt_step_deg: float) -> np.ndarray:
    """Tilts (degrees) of a series ``±tilt_max_deg`` in ``tilt_step_deg`` steps, symmetric about 0.

    ``floor(2 max / step) + 1`` tilts centred on 0 (±60° in 2° steps: -60, -58, ..., 60).
    """
    if not (0 <= tilt_max_deg <= 90) or tilt_step_deg <= 0:
        raise ValueError(f"need 0 <= tilt_max_deg <= 90 and tilt_step_deg > 0, got {tilt_max_deg}, {tilt_step_deg}")
    n = int(math.floor(2 * tilt_max_deg / tilt_step_deg + 1e-9)) + 1
    return (np.arange(n) - (n - 1) / 2) * tilt_step_deg


@dataclass(frozen=True)
class DFIGeometry:
    """Where each tilt image's DFT lands on the ``box^3`` DFT grid (nearest neighbour).

    ``index``: ``(n_tilts, box, box)`` flat index into the full-layout ``box^3`` grid of the image
    frequency ``(v, u)`` (image axes ``[y, x']``, numpy FFT order) of each tilt; ``counts``:
    ``(box, box, box)`` how many image samples each voxel receives.
    """

    box: int
    tilts_deg: np.ndarray
    index: np.ndarray
    counts: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """Boolean ``[z, y, x]`` full-layout mask of the voxels the tilt series samples, ``k`` and ``-k``.

        The images' ``u = -box / 2`` samples have no ``+box / 2`` partner, so a tilted one lands where its
        conjugate does not; a real reconstruction holds both (its DFT is Hermitian).
        """
        sampled = self.counts > 0
        return sampled | np.roll(np.flip(sampled, axis=(0, 1, 2)), 1, axis=(0, 1, 2))


def dfi_geometry(box: int, tilts_deg: np.ndarray) -> DFIGeometry:
    """The direct-Fourier-inversion grid of a tilt series about y (beam along z at tilt 0).

    The tilt-``a`` image frequency ``(v, u)`` (cycles per box, ``u`` along the image x axis) is the 3D
    frequency ``(k_z, k_y, k_x) = (-u sin a, v, u cos a)`` (Fourier slice theorem; the convention of
    :func:`~baselines.template_matching.templates.wedge_mask`), rounded to the nearest voxel.
    """
    f = np.fft.fftfreq(box) * box
    v, u = np.meshgrid(f, f, indexing="ij")
    a = np.radians(np.asarray(tilts_deg, float))[:, None, None]
    kz = np.rint(-u * np.sin(a)).astype(np.int64) % box
    kx = np.rint(u * np.cos(a)).astype(np.int64) % box
    ky = np.broadcast_to(v.astype(np.int64) % box, kz.shape)
    index = (kz * box + ky) * box + kx
    counts = np.bincount(index.ravel(), minlength=box ** 3).reshape((box,) * 3)
    return DFIGeometry(box, np.asarray(tilts_deg, float), index, counts)


def dfi_noise(geometry: DFIGeometry, images: np.ndarray, transfer: np.ndarray | None = None) -> np.ndarray:
    """Reconstruct ``images`` (``(n_tilts, box, box)``, one per tilt) by direct Fourier inversion.

    Each image's 2D DFT is put on its voxels of ``geometry`` and averaged where several meet; the
    ``transfer`` (full-layout ``box^3``, e.g. CTF x MTF) multiplies the result. Returns the real
    ``(box, box, box)`` float32 volume. Linear in ``images``: used for the noise of the tilt images.
    """
    n = geometry.box
    spectra = np.fft.fft2(images)
    idx = geometry.index.ravel()
    grid = (np.bincount(idx, spectra.real.ravel(), n ** 3) + 1j * np.bincount(idx, spectra.imag.ravel(), n ** 3))
    grid = grid.reshape((n,) * 3) / np.maximum(geometry.counts, 1)
    if transfer is not None:
        grid *= transfer
    return np.real(np.fft.ifftn(grid)).astype(np.float32)


def optics_transfer(box: int, imaging: Imaging) -> np.ndarray:
    """CTF x MTF of ``imaging`` on the full-layout ``box^3`` DFT grid (float64, radial in ``|k|``).

    CTF: :func:`~baselines.template_matching.templates.ctf_1d` at ``|k|`` (1/Å); MTF: ``sinc(pi w / 2)``
    with ``w = |k| / Nyquist`` (the paper's detector; ``numpy.sinc(w / 2)``).
    """
    f = np.fft.fftfreq(box, imaging.voxel_size_a)
    kz, ky, kx = np.meshgrid(f, f, f, indexing="ij")
    k = np.sqrt(kz ** 2 + ky ** 2 + kx ** 2)
    ctf = ctf_1d(k, defocus_um=imaging.defocus_um, voltage_kv=imaging.voltage_kv, cs_mm=imaging.cs_mm,
                 amplitude_contrast=imaging.amplitude_contrast)
    return ctf * np.sinc(k * imaging.voxel_size_a)   # w / 2 = |k| / (2 Nyquist) = |k| voxel


def wedge_mask(box: int, tilt_max_deg: float) -> np.ndarray:
    """Missing-wedge mask of a single-axis tilt series, full FFT layout.

    Boolean ``[z, y, x]`` mask in numpy (full) FFT order: True where a tilt series about y with tilts
    up to ``±tilt_max_deg`` samples Fourier space (``|k_z| <= |k_x| tan(tilt_max)``; DC kept).

    The missing wedge of template matching (:func:`~baselines.template_matching.templates.wedge_mask`,
    rfftn layout), extended to the negative ``k_x`` it leaves out: for a symmetric tilt range about y
    the mask depends on ``|k_x|`` only.
    """
    half = template_wedge_mask((box,) * 3, -tilt_max_deg, tilt_max_deg) > 0
    j = np.arange(box)
    return half[:, :, np.minimum(j, box - j)]


def _shift_ramp(box: int, shift_zyx: np.ndarray) -> np.ndarray:
    k = np.fft.fftfreq(box)
    kz, ky, kx = np.meshgrid(k, k, k, indexing="ij")
    return np.exp(-2j * np.pi * (kz * shift_zyx[0] + ky * shift_zyx[1] + kx * shift_zyx[2]))


def simulate_subtomograms(templates: dict[str, np.ndarray], n_per_class: int, snr: float, tilt_max_deg: float,
                          box: int, rng: np.random.Generator, *, max_shift_vox: float = 2.0,
                          include_empty: bool = True,
                          imaging: Imaging | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Simulated subtomograms ``(N, box, box, box)``, labels ``(N,)`` and the class names (``empty`` last).

    ``imaging`` (default :class:`Imaging`: SNR of the subtomogram, no optics) says what ``snr`` is
    measured on and whether the CTF and MTF apply (module docstring).
    """
    if snr <= 0:
        raise ValueError("snr must be > 0")
    if n_per_class < 1 or box < 4:
        raise ValueError(f"need n_per_class >= 1 and box >= 4, got {n_per_class}, {box}")
    imaging = imaging or Imaging()
    projection = imaging.snr_definition == "projection"
    geometry = dfi_geometry(box, tilt_angles_deg(tilt_max_deg, imaging.tilt_step_deg)) if projection else None
    mask = geometry.mask if geometry is not None else wedge_mask(box, tilt_max_deg)
    transfer = optics_transfer(box, imaging) if imaging.optics == "ctf_mtf" else None
    keep = mask if transfer is None else mask * transfer
    names = list(templates) + ([EMPTY] if include_empty else [])
    xs = np.zeros((len(names) * n_per_class, box, box, box), np.float32)
    ys = np.repeat(np.arange(len(names)), n_per_class)
    rotations = random_rotations(len(xs), rng)
    variances: dict[int, list[float]] = {}
    own_var = np.full(len(xs), np.nan)
    for i, label in enumerate(ys):  # pass 1: the noise-free, shifted, sampled (and filtered) particles
        if names[label] != EMPTY:
            vol = rotate_volume(templates[names[label]], rotations[i], order=1, output_shape=(box,) * 3)
            ft = np.fft.fftn(vol) * _shift_ramp(box, rng.uniform(-max_shift_vox, max_shift_vox, 3))
            xs[i] = np.real(np.fft.ifftn(ft * keep))
            # projection: the tilt-0 image of a uniformly rotated particle = any tilt's, in distribution
            image_var = np.real(np.fft.ifft2(ft[0])).var() if projection else xs[i].var()
            variances.setdefault(int(label), []).append(float(image_var))
            own_var[i] = image_var
    signal_var = float(np.mean([np.mean(v) for v in variances.values()]))
    # noise_level particle: each box at its own particle's SNR; empty boxes at the dataset's level
    box_var = np.where(np.isnan(own_var), signal_var, own_var) if imaging.noise_level == "particle" \
        else np.full(len(xs), signal_var)
    if geometry is not None:
        shape = (len(geometry.tilts_deg), box, box)
        for i in range(len(xs)):  # pass 2: noise in every tilt image, reconstructed with the particle
            xs[i] += dfi_noise(geometry, rng.normal(0.0, np.sqrt(box_var[i] / snr), shape), transfer)
        return xs, ys, names
    kept = float(mask.mean())  # unit white noise keeps this variance after masking
    for i in range(len(xs)):  # pass 2: the noise level of the dataset (or of the box's particle)
        sigma = np.sqrt(box_var[i] / snr / kept)
        xs[i] += np.real(np.fft.ifftn(np.fft.fftn(rng.normal(0.0, sigma, (box,) * 3)) * mask))
    return xs, ys, names


def volume_snr_of_projection_snr(templates: dict[str, np.ndarray], projection_snr: float, tilt_max_deg: float,
                                 box: int, rng: np.random.Generator, *, n_per_class: int = 20,
                                 imaging: Imaging | None = None) -> dict[str, float]:
    """The subtomogram-level SNR a tilt-image SNR gives, measured on simulated boxes.

    Simulates ``n_per_class`` boxes per template twice with the same draws, noise-free
    (``snr = 1e12``) and at ``projection_snr`` (``snr_definition: projection``, unshifted), and
    returns ``{"volume_snr": mean var(noise-free box) / var(noise), "noise_var", "signal_var"}``
    over the boxes, the noise being the difference of the two.
    """
    base = imaging or Imaging(snr_definition="projection")
    imaging = Imaging(**{**base.__dict__, "snr_definition": "projection"})
    state = rng.bit_generator.state
    clean, _, _ = simulate_subtomograms(templates, n_per_class, 1e12, tilt_max_deg, box, rng, max_shift_vox=0,
                                        include_empty=False, imaging=imaging)
    rng.bit_generator.state = state
    noisy, _, _ = simulate_subtomograms(templates, n_per_class, projection_snr, tilt_max_deg, box, rng,
                                        max_shift_vox=0, include_empty=False, imaging=imaging)
    signal_var = float(clean.var(axis=(1, 2, 3)).mean())
    noise_var = float((noisy - clean).var(axis=(1, 2, 3)).mean())
    return {"volume_snr": signal_var / noise_var, "signal_var": signal_var, "noise_var": noise_var}


def halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random split of ``range(n)`` into two halves (train, test)."""
    order = rng.permutation(n)
    return np.sort(order[: n // 2]), np.sort(order[n // 2:])


def imaging_of(task: SubtomoTaskParams, voxel_size_a: float) -> Imaging:
    """The :class:`Imaging` of a task's parameters, boxes at ``voxel_size_a`` (Å)."""
    return Imaging(snr_definition=task.snr_definition, noise_level=task.noise_level,
                   tilt_step_deg=task.tilt_step_deg, optics=task.optics,
                   voxel_size_a=voxel_size_a, defocus_um=task.defocus_um, voltage_kv=task.voltage_kv,
                   cs_mm=task.cs_mm, amplitude_contrast=task.amplitude_contrast)


class LearningCurve:
    """Test-half accuracy after every ``every``-th epoch: a curve to read, never a model selection."""

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray, every: int, *, device="cpu"):
        self.x_test, self.y_test, self.every, self.device = x_test, y_test, every, device
        self.accuracy_by_epoch: dict[str, float] = {}

    def __call__(self, epoch: int, model) -> None:
        """Score the test half after every ``every``-th epoch (the ``observe`` of ``train_classifier``)."""
        if self.every and epoch % self.every == 0:
            pred = predict_logits(model, self.x_test, device=self.device).argmax(1)
            self.accuracy_by_epoch[str(epoch)] = accuracy(self.y_test, pred)


def run_cell(templates: dict[str, np.ndarray], snr: float, tilt_max_deg: float, task: SubtomoTaskParams,
             cnn: CNNParams, rng: np.random.Generator, *, device="cpu", progress: bool = False,
             imaging: Imaging | None = None) -> dict:
    """One dataset of the grid: simulate, train on one half, score the other half."""
    x, y, names = simulate_subtomograms(templates, task.n_per_class, snr, tilt_max_deg, task.box_vox, rng,
                                        max_shift_vox=task.max_shift_vox, include_empty=task.include_empty,
                                        imaging=imaging)
    tr, te = halves(len(x), rng)
    curve = LearningCurve(x[te], y[te], task.curve_every_epochs, device=device)
    model, _ = train_classifier(x[tr], y[tr], len(names), rng, width=cnn.width, hidden=cnn.hidden,
                                dropout=cnn.dropout, epochs=cnn.epochs, batch_size=cnn.batch_size,
                                learning_rate=cnn.learning_rate, device=device, progress=progress,
                                observe=curve if task.curve_every_epochs else None,
                                desc=f"snr {snr:g} ±{tilt_max_deg:g}°")
    logits = predict_logits(model, x[te], device=device)
    pred = logits.argmax(1)
    conf = confusion_matrix(y[te], pred, len(names))
    purity, _ = kmeans_purity(logits, y[te], task.kmeans_k or len(names), seed=task.seed)
    return {"snr": snr, "tilt_max_deg": tilt_max_deg, "accuracy": accuracy(y[te], pred),
            "per_class_f1": dict(zip(names, per_class_f1(conf).round(4).tolist())),
            "confusion": {"classes": names, "counts": conf.tolist()}, "kmeans_purity": purity,
            "n_train": int(len(tr)), "n_test": int(len(te)), "accuracy_by_epoch": curve.accuracy_by_epoch}


def run_task(structures_dir: str | Path, task: SubtomoTaskParams, cnn: CNNParams, *, device="cpu",
             progress: bool = True) -> dict:
    """The whole grid; cell (i, j) is seeded with ``SeedSequence([seed, i, j])``."""
    templates = load_templates(structures_dir, task.classes, voxel_size_a=task.voxel_size_a)
    voxel_a = task.voxel_size_a or library_voxel_size_a(structures_dir, next(iter(templates)))
    imaging = imaging_of(task, voxel_a)
    cells = []
    grid = [(i, j, s, t) for i, s in enumerate(task.snrs) for j, t in enumerate(task.tilt_max_deg)]
    for i, j, snr, tilt in tqdm(grid, desc="subtomogram task", unit="dataset", disable=not progress):
        rng = np.random.default_rng(np.random.SeedSequence([task.seed, i, j]))
        cells.append(run_cell(templates, snr, tilt, task, cnn, rng, device=device, progress=progress,
                              imaging=imaging))
    return {"classes": list(templates) + ([EMPTY] if task.include_empty else []), "voxel_size_a": voxel_a,
            "params": task.model_dump(), "cnn": cnn.model_dump(), "cells": cells}


def format_table2(result: dict, key: str = "accuracy") -> str:
    """The accuracy (or ``kmeans_purity``) grid in the layout of Xu et al. (2017) Table 2."""
    snrs = list(dict.fromkeys(c["snr"] for c in result["cells"]))
    tilts = list(dict.fromkeys(c["tilt_max_deg"] for c in result["cells"]))
    value = {(c["snr"], c["tilt_max_deg"]): c[key] for c in result["cells"]}
    head = "SNR / Tilt angle range" + "".join(f"{'±%g°' % t:>12}" for t in tilts)
    lines = [head, " " * 22 + "".join(f"{'CNN':>12}" for _ in tilts)]
    for s in snrs:
        lines.append(f"{s:<22g}" + "".join(f"{value.get((s, t), float('nan')):>12.3f}" for t in tilts))
    n = len(result["classes"])
    lines.append(f"({key}; {n} classes incl. empty; {result['params']['n_per_class']} subtomograms per class, "
                 f"half for training; box {result['params']['box_vox']}^3; "
                 f"SNR of the {result['params'].get('snr_definition', 'volume')})")
    return "\n".join(lines)
