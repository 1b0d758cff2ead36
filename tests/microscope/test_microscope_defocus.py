"""Defocus gradient: particles at different depths of a tilted slab see different defocus."""

import math

import numpy as np
import pytest
import torch
from microscope_testlib import gaussian_blob

from generator.imaging import ImagingParams, image_sample
from generator.microscope import ctf as ctfm
from generator.microscope.params import OpticsParams
from generator.microscope.projector import project

VOXEL = 5.0
SHAPE = (600, 64, 128)  # a 0.3 µm thick slab
TILT = 10.0


def _blob_volume(z, x):
    return gaussian_blob(SHAPE, (z, SHAPE[1] // 2, x), 2 * 1.2**2).astype(np.float32)


def _fitted_defocus_um(vol):
    p = ImagingParams(progress=False)
    p.acquisition.tilt_min_deg = p.acquisition.tilt_max_deg = TILT
    p.detector.noise_mode = "none"
    p.detector.detector = "ideal"
    p.detector.damage_model = "none"
    p.projection.slab_thickness_nm = 2.0
    p.reconstruction.thickness_vox = 4
    image = image_sample(vol, VOXEL, p, np.random.default_rng(0)).projections[0]
    image = image / image.mean() - 1.0
    # independent reference: the plain projection convolved with the CTF of one defocus, scanned
    phase = project(vol, [TILT])[0]
    spec = torch.fft.rfft2(phase)

    def score(df_um):
        c = ctfm.ctf_2d(phase.shape, VOXEL, OpticsParams(defocus_um=df_um), with_envelope=False).float()
        ref = torch.fft.irfft2(spec * c, s=phase.shape).numpy()
        return np.corrcoef(ref.ravel(), image.ravel())[0, 1]

    coarse = max(np.arange(2.0, 4.0, 0.05), key=score)  # coarse scan, then fine around the best
    fine = np.arange(coarse - 0.05, coarse + 0.05, 0.005)
    scores = [score(d) for d in fine]
    assert max(scores) > 0.95
    return float(fine[int(np.argmax(scores))])


def test_particles_at_top_and_bottom_of_a_tilted_slab_see_different_defocus():
    nz, _, nx = SHAPE
    top = (nz // 2 - 250, nx // 2 + 40)  # (z, x): near the top (entrance) surface
    bottom = (nz // 2 + 250, nx // 2 - 40)  # near the bottom; both project near the image centre
    fitted = {}
    for name, (z, x) in (("top", top), ("bottom", bottom)):
        fitted[name] = _fitted_defocus_um(_blob_volume(z, x))
    t = math.radians(TILT)

    def depth_um(z, x):
        return (-(x - nx // 2) * math.sin(t) + (z - nz // 2) * math.cos(t)) * VOXEL * 1e-4

    for name, (z, x) in (("top", top), ("bottom", bottom)):
        # nominal 3 µm at the sample centre, more underfocus further along the beam
        assert fitted[name] == pytest.approx(3.0 + depth_um(z, x), abs=0.02)
    assert fitted["bottom"] - fitted["top"] == pytest.approx(depth_um(*bottom) - depth_um(*top), abs=0.03)
    assert fitted["bottom"] - fitted["top"] > 0.2
