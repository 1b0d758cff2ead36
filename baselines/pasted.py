"""Training boxes made from the class templates: rotated at random, imaged as measured, pasted on real background.

A training tomogram of the ``default`` preset holds about 27 particles per class, each in one
orientation, so the classifier sees a class in some 55 orientations. The public ``structures/``
templates give every orientation. What the tomogram does to a template is measured, not modelled:

1. :func:`particle_model`: the scored particles of a training tomogram, their templates placed at
   the true poses of ``particle_locations.txt`` (``R = Rz(phi) Rx(theta) Rz(psi)``, ZXZ).
2. :func:`radial_transfer`: the reconstruction regressed on that model in Fourier space, one
   coefficient per radial frequency shell inside the region the tilt series sampled (outside it
   the reconstruction holds no signal): CTF, dose damage, detector, the weighting and apodisation
   of the back-projection, and the units, all in one real curve (its sign flips past the CTF's
   first zero). The other matter of the sample (membranes, filaments, ice) is uncorrelated with
   the model and averages out of the regression.
3. :func:`particles_removed`: the reconstruction minus its particle model imaged by that curve:
   the tomogram with its scored particles taken out (noise, membranes and filaments stay).
4. :func:`pasted_boxes`: a template rotated uniformly at random, shifted, filtered by the curve and
   the sampled region (:func:`box_transfer`), added to a box at a real particle less that
   particle's own image (:func:`own_particle_removed`). So a training particle is replaced by
   another, in another orientation, among the same neighbours. On the ``default`` preset's data
   the variance of such boxes within 6 voxels of the centre is within 2.5 % of the real particles'
   for every class, the mean within 0.03 (``benchmarks/bench_pasted.py``).
5. :func:`reposed_tomogram`: the same for a whole training tomogram: every scored particle turned
   to a new random orientation in place (the class kept), with its target voxels redrawn, for
   the U-Net.

Arrays are ``(z, y, x)``; frequencies in cycles per voxel; positions in voxels, ``x, y, z``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from baselines.classifier.extract import extract_subtomograms
from baselines.template_matching.templates import centre_box, wedge_mask
from tomobench.euler import euler_to_matrix, matrix_to_euler, random_rotations
from tomobench.rotate import rotate_volume


def particle_model(shape_zyx: tuple[int, int, int], particles: pd.DataFrame,
                   templates: dict[str, np.ndarray]) -> np.ndarray:
    """The particles of ``particles`` (columns class, x, y, z, phi, theta, psi) drawn from their templates.

    Each template (centred, same voxel as the volume) is turned by its particle's ZXZ angles and
    added at the rounded centre; classes without a template are skipped. Returns float32 ``shape_zyx``.
    """
    out = np.zeros(shape_zyx, np.float32)
    for _, _, turned, (src, dst) in _turned_in_place(shape_zyx, particles, templates):
        out[dst] += turned[src]
    return out


def _turned_in_place(shape_zyx: tuple[int, ...], particles: pd.DataFrame, templates: dict[str, np.ndarray]):
    """Yield ``(row, template, turned template, (source, destination) slices)`` per particle inside the volume."""
    columns = [particles[c].to_numpy() for c in ("class", "x", "y", "z", "phi", "theta", "psi")]
    for row, (name, x, y, z, phi, theta, psi) in enumerate(zip(*columns)):
        template = templates.get(str(name))
        if template is None:
            continue
        turned = rotate_volume(template, euler_to_matrix(phi, theta, psi), order=1)
        place = _placement((z, y, x), turned.shape[0], shape_zyx)
        if place is not None:
            yield row, template, turned, place


def _placement(centre_zyx, n: int, shape: tuple[int, ...]):
    """(source, destination) slices of an ``n^3`` box centred (voxel ``n // 2``) on ``centre_zyx``; None if outside."""
    lo = np.rint(centre_zyx).astype(int) - n // 2
    src = tuple(slice(max(0, -a), n - max(0, a + n - s)) for a, s in zip(lo, shape))
    dst = tuple(slice(max(0, a), min(s, a + n)) for a, s in zip(lo, shape))
    return (src, dst) if all(d.stop > d.start for d in dst) else None


def _radius_and_sampled(shape: tuple[int, int, int], tilt_min_deg: float, tilt_max_deg: float,
                        tilt_axis_deg: float) -> tuple[np.ndarray, np.ndarray]:
    kz = np.fft.fftfreq(shape[0])[:, None, None]
    ky = np.fft.fftfreq(shape[1])[None, :, None]
    kx = np.fft.rfftfreq(shape[2])[None, None, :]
    radius = np.sqrt(kz ** 2 + ky ** 2 + kx ** 2)
    return radius, wedge_mask(shape, tilt_min_deg, tilt_max_deg, tilt_axis_deg) > 0


def radial_transfer(volumes: list[np.ndarray], models: list[np.ndarray], *, tilt_min_deg: float,
                    tilt_max_deg: float, tilt_axis_deg: float = 0.0, n_shells: int = 32) -> np.ndarray:
    """Per-shell least-squares factor from particle models to reconstructions, pooled over tomograms.

    Parameters
    ----------
    volumes, models : list of np.ndarray
        Reconstructions and their :func:`particle_model`, pairwise of one shape ``(z, y, x)``.
    tilt_min_deg, tilt_max_deg, tilt_axis_deg : float
        The tilt range and axis (from y, degrees) that bound the sampled region.
    n_shells : int
        Shells of equal width from 0 to 0.5 cycles/voxel (beyond 0.5, the corners, the last one's value).

    Returns
    -------
    np.ndarray
        ``(n_shells,)``: ``sum Re(V conj(M)) / sum |M|^2`` over the sampled voxels of each shell,
        the zero frequency left out (0 for a shell without any other voxel).
    """
    cross, power = np.zeros(n_shells), np.zeros(n_shells)
    for volume, model in zip(volumes, models):
        radius, sampled = _radius_and_sampled(volume.shape, tilt_min_deg, tilt_max_deg, tilt_axis_deg)
        shell = np.minimum((radius * 2 * n_shells).astype(int), n_shells - 1)
        v_ft = np.fft.rfftn(np.asarray(volume, np.float32) - float(np.mean(volume)))
        m_ft = np.fft.rfftn(model - float(model.mean()))
        # rfftn keeps one of each +-kx pair: weight the kx > 0 planes twice (the full spectrum's sums)
        twice = np.ones(v_ft.shape[-1])
        twice[1:(volume.shape[-1] + 1) // 2] = 2.0
        weight = sampled * twice[None, None, :]
        weight[0, 0, 0] = 0.0   # the mean: removed from both
        cross += np.bincount(shell.ravel(), (weight * (v_ft * np.conj(m_ft)).real).ravel(), n_shells)
        power += np.bincount(shell.ravel(), (weight * np.abs(m_ft) ** 2).ravel(), n_shells)
    return np.where(power > 0, cross / np.where(power > 0, power, 1.0), 0.0)


def transfer_on_grid(shape: tuple[int, int, int], transfer: np.ndarray, *, tilt_min_deg: float,
                     tilt_max_deg: float, tilt_axis_deg: float = 0.0) -> np.ndarray:
    """The shells' factors on the rfftn grid of ``shape``, zero outside the sampled region.

    Linear interpolation between shell centres (``(i + 0.5) / (2 n)`` cycles/voxel).
    """
    n = len(transfer)
    radius, sampled = _radius_and_sampled(shape, tilt_min_deg, tilt_max_deg, tilt_axis_deg)
    centres = (np.arange(n) + 0.5) / (2 * n)
    return (np.interp(radius, centres, transfer) * sampled).astype(np.float32)


def imaged(model: np.ndarray, transfer: np.ndarray, *, tilt_min_deg: float, tilt_max_deg: float,
           tilt_axis_deg: float = 0.0) -> np.ndarray:
    """``model`` (mean removed) filtered by the shells' ``transfer`` and the sampled region (float32)."""
    grid = transfer_on_grid(model.shape, transfer, tilt_min_deg=tilt_min_deg, tilt_max_deg=tilt_max_deg,
                            tilt_axis_deg=tilt_axis_deg)
    return np.fft.irfftn(np.fft.rfftn(model - float(model.mean())) * grid, s=model.shape).astype(np.float32)


def particles_removed(volume: np.ndarray, model: np.ndarray, transfer: np.ndarray, *, tilt_min_deg: float,
                      tilt_max_deg: float, tilt_axis_deg: float = 0.0) -> np.ndarray:
    """``volume`` minus ``model`` filtered by ``transfer`` (:func:`radial_transfer`): float32, same shape."""
    return (volume - imaged(model, transfer, tilt_min_deg=tilt_min_deg, tilt_max_deg=tilt_max_deg,
                            tilt_axis_deg=tilt_axis_deg)).astype(np.float32)


def box_transfer(size: int, transfer: np.ndarray, *, tilt_min_deg: float, tilt_max_deg: float,
                 tilt_axis_deg: float = 0.0) -> np.ndarray:
    """:func:`transfer_on_grid` of a ``size^3`` box."""
    return transfer_on_grid((size,) * 3, transfer, tilt_min_deg=tilt_min_deg, tilt_max_deg=tilt_max_deg,
                            tilt_axis_deg=tilt_axis_deg)


def pasted_boxes(templates: dict[int, np.ndarray], transfer_box: np.ndarray, backgrounds: np.ndarray,
                 n_per_class: int, max_shift_vox: dict[int, float],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n_per_class`` boxes per target: a template turned at random, imaged, on a background box.

    Parameters
    ----------
    templates : dict of int to np.ndarray
        Target index -> centred template (the volume's voxel).
    transfer_box : np.ndarray
        :func:`box_transfer` for twice the box edge (the particle is filtered in a padded box, so
        the filter's ringing does not wrap around).
    backgrounds : np.ndarray
        ``(M, s, s, s)`` boxes without their particle (:func:`own_particle_removed`); each pasted box
        takes one at random, flipped at random along each axis (the sampled region is symmetric
        under the flips).
    n_per_class : int
        Boxes per target.
    max_shift_vox : dict of int to float
        Target -> the largest shift of the particle from the box centre (uniform in a cube).
    rng : np.random.Generator
        Rotations, shifts and background choices.

    Returns
    -------
    tuple of np.ndarray
        Boxes ``(K n_per_class, s, s, s)`` float32 and their targets ``(K n_per_class,)``.
    """
    size = backgrounds.shape[1]
    padded = 2 * size
    k = np.fft.fftfreq(padded)
    kz, ky, kx = k[:, None, None], k[None, :, None], np.fft.rfftfreq(padded)[None, None, :]
    targets = np.repeat(np.array(sorted(templates), int), n_per_class)
    rotations = random_rotations(len(targets), rng)
    out = np.empty((len(targets), size, size, size), np.float32)
    for i, target in enumerate(targets):
        shift = rng.uniform(-1.0, 1.0, 3) * max_shift_vox.get(int(target), 0.0)   # z, y, x
        ramp = np.exp(-2j * np.pi * (kz * shift[0] + ky * shift[1] + kx * shift[2]))
        particle = imaged_in_box(templates[target], rotations[i], transfer_box * ramp, size)
        background = backgrounds[rng.integers(len(backgrounds))]
        flips = tuple(a for a in range(3) if rng.random() < 0.5)
        out[i] = particle + (np.flip(background, flips) if flips else background)
    return out, targets


def imaged_in_box(template: np.ndarray, matrix_xyz: np.ndarray, transfer_box: np.ndarray, size: int) -> np.ndarray:
    """A template turned by ``matrix_xyz``, filtered by ``transfer_box`` (rfftn of a ``2 size`` box), in ``size^3``."""
    padded = 2 * size
    turned = rotate_volume(template, matrix_xyz, order=1, output_shape=(padded,) * 3)
    return centre_box(np.fft.irfftn(np.fft.rfftn(turned) * transfer_box, s=(padded,) * 3), size)


def own_particle_removed(volume: np.ndarray, particles: pd.DataFrame, templates: dict[str, np.ndarray],
                         transfer_box: np.ndarray, size: int) -> np.ndarray:
    """Boxes ``(N, size, size, size)`` at the particles, each less its own particle imaged (:func:`imaged_in_box`).

    The neighbours stay, as they do around a real particle: on the ``default`` data a CNN told
    pasted boxes from real ones 68.9 % of the time with every particle removed, 62.5 % with only
    the particle's own image removed (chance 50 %; ``benchmarks/bench_pasted.py --gap``).
    """
    boxes = extract_subtomograms(volume, particles[["x", "y", "z"]].to_numpy(float), size)
    columns = [particles[c].to_numpy() for c in ("class", "phi", "theta", "psi")]
    for i, (name, phi, theta, psi) in enumerate(zip(*columns)):
        template = templates.get(str(name))
        if template is not None:
            boxes[i] -= imaged_in_box(template, euler_to_matrix(phi, theta, psi), transfer_box, size)
    return boxes


def measured_transfer(volumes: list[np.ndarray], particles: list[pd.DataFrame], templates: dict[str, np.ndarray], *,
                      tilt_min_deg: float, tilt_max_deg: float,
                      tilt_axis_deg: float = 0.0) -> tuple[list[np.ndarray], np.ndarray]:
    """The tomograms' :func:`particle_model` and the :func:`radial_transfer` pooled over them."""
    models = [particle_model(v.shape, p, templates) for v, p in zip(volumes, particles)]
    return models, radial_transfer(volumes, models, tilt_min_deg=tilt_min_deg, tilt_max_deg=tilt_max_deg,
                                   tilt_axis_deg=tilt_axis_deg)


def pasted_training_set(volumes: list[np.ndarray], particles: list[pd.DataFrame], templates: dict[str, np.ndarray],
                        target_of: dict[str, int], *, box: int, n_per_class: int, max_shift_vox: dict[int, float],
                        tilt_min_deg: float, tilt_max_deg: float, tilt_axis_deg: float,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pasted boxes of the module docstring from training tomograms.

    Parameters
    ----------
    volumes : list of np.ndarray
        Normalised reconstructions ``(z, y, x)``.
    particles : list of pd.DataFrame
        Their scored particles (class, x, y, z, phi, theta, psi).
    templates : dict of str to np.ndarray
        Class name -> centred template at the volumes' voxel.
    target_of : dict of str to int
        Class name -> target index (the classes to paste).
    box, n_per_class, max_shift_vox, rng
        As :func:`pasted_boxes` (``box``: the edge of the boxes).
    tilt_min_deg, tilt_max_deg, tilt_axis_deg : float
        The tilt series' range and axis.

    Returns
    -------
    tuple of np.ndarray
        Boxes ``(N, box, box, box)``, targets ``(N,)`` and the transfer curve ``(32,)``.
    """
    _, transfer = measured_transfer(volumes, particles, templates, tilt_min_deg=tilt_min_deg,
                                    tilt_max_deg=tilt_max_deg, tilt_axis_deg=tilt_axis_deg)
    transfer_box = box_transfer(2 * box, transfer, tilt_min_deg=tilt_min_deg, tilt_max_deg=tilt_max_deg,
                                tilt_axis_deg=tilt_axis_deg)
    backgrounds = np.concatenate([own_particle_removed(v, p, templates, transfer_box, box)
                                  for v, p in zip(volumes, particles)])
    chosen = {target_of[n]: templates[n] for n in target_of if n in templates}
    x, y = pasted_boxes(chosen, transfer_box, backgrounds, n_per_class, max_shift_vox, rng)
    return x, y, transfer


def reposed_tomogram(residual: np.ndarray, target: np.ndarray, particles: pd.DataFrame,
                     templates: dict[str, np.ndarray], transfer: np.ndarray, rng: np.random.Generator, *,
                     mask_threshold: float = 0.1, tilt_min_deg: float, tilt_max_deg: float,
                     tilt_axis_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A training tomogram with every particle of ``particles`` turned in place to a random orientation.

    Parameters
    ----------
    residual : np.ndarray
        :func:`particles_removed` of the tomogram ``(z, y, x)``.
    target : np.ndarray
        Its target map (0 background, ``particles["target"]`` at the particles' voxels).
    particles : pd.DataFrame
        The scored particles (class, target, x, y, z); their angles are replaced.
    templates : dict of str to np.ndarray
        Class name -> centred template; classes without one keep no particle.
    transfer : np.ndarray
        :func:`radial_transfer` of the tomogram.
    rng : np.random.Generator
        The new orientations (uniform on SO(3)).
    mask_threshold : float
        A particle's target voxels: its turned template ``>= mask_threshold * max`` (the simulator's
        class-mask rule).

    Returns
    -------
    tuple of np.ndarray
        The reposed volume (float32) and target map (the input's dtype; voxels of the old particles
        that the new ones do not cover become background, other labels stay).
    """
    turned = particles.copy()
    turned[["phi", "theta", "psi"]] = np.asarray(matrix_to_euler(random_rotations(len(turned), rng))).reshape(-1, 3)
    model = np.zeros(residual.shape, np.float32)
    new_target = np.where(np.isin(target, particles["target"].unique()), 0, target).astype(target.dtype)
    labels = turned["target"].to_numpy()
    for row, template, density, (src, dst) in _turned_in_place(residual.shape, turned, templates):
        model[dst] += density[src]
        new_target[dst][density[src] >= mask_threshold * template.max()] = labels[row]
    volume = residual + imaged(model, transfer, tilt_min_deg=tilt_min_deg, tilt_max_deg=tilt_max_deg,
                               tilt_axis_deg=tilt_axis_deg)
    return volume.astype(np.float32), new_target


def reposed_copies(volumes: list[np.ndarray], targets: list[np.ndarray], particles: list[pd.DataFrame],
                   templates: dict[str, np.ndarray], n_copies: int, rng: np.random.Generator, *,
                   tilt_min_deg: float, tilt_max_deg: float,
                   tilt_axis_deg: float = 0.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n_copies`` :func:`reposed_tomogram` of each training tomogram (volumes, target maps), in order.

    The transfer is measured once over all the given tomograms (:func:`radial_transfer`).
    """
    wedge = {"tilt_min_deg": tilt_min_deg, "tilt_max_deg": tilt_max_deg, "tilt_axis_deg": tilt_axis_deg}
    models, transfer = measured_transfer(volumes, particles, templates, **wedge)
    out_volumes, out_targets = [], []
    for volume, target, model, p in zip(volumes, targets, models, particles):
        residual = particles_removed(volume, model, transfer, **wedge)
        for _ in range(n_copies):
            v, t = reposed_tomogram(residual, target, p, templates, transfer, rng, **wedge)
            out_volumes.append(v)
            out_targets.append(t)
    return out_volumes, out_targets
