"""Parameters of the microscope: acquisition, optics (CTF), projection, dose and detector.

Defaults are the ``default`` preset (SHREC-like, small). Units are in the field
names: ``_deg`` degrees, ``_um`` micrometres, ``_nm`` nanometres, ``_a`` Ångström,
``_a2`` Å², ``_mm`` millimetres, ``_kv`` kilovolts, ``_e_per_a2`` electrons per Å².
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from tomobench.params import Params


class AcquisitionParams(Params):
    """Tilt scheme, its errors and the electron dose."""

    tilt_min_deg: float = Field(-60.0, ge=-90.0, le=90.0)
    tilt_max_deg: float = Field(60.0, ge=-90.0, le=90.0)
    tilt_step_deg: float = Field(3.0, gt=0.0, le=90.0)
    #: in-plane angle of the tilt axis on the detector, from the image y axis, counter-clockwise (IMOD's
    #: "tilt axis rotation"); projections.mrc is in the detector frame, the reconstruction always in the
    #: specimen frame (tilt axis along y), see generator/microscope/detector_frame.py
    tilt_axis_deg: float = Field(0.0, ge=-180.0, le=180.0)
    #: order in which the tilts are recorded (sets the accumulated dose of each view)
    scheme: Literal["sequential", "bidirectional", "dose_symmetric"] = "dose_symmetric"
    #: first tilt of a bidirectional scheme
    bidirectional_start_deg: float = 0.0
    #: standard deviation of the random error of each tilt angle (the true angle differs from the recorded one)
    tilt_angle_error_deg: float = Field(0.0, ge=0.0, le=5.0)
    #: PolNet's sinusoidal misalignment: per-view shift magnitude from `shift_mean_px` at 0° to `shift_max_px`
    #: at the largest tilt
    shift_mean_px: float = Field(0.0, ge=0.0)
    shift_max_px: float = Field(0.0, ge=0.0)
    #: total electron dose over the whole tilt series, shared equally by the views
    dose_total_e_per_a2: float = Field(120.0, gt=0.0)

    @model_validator(mode="after")
    def _check(self) -> "AcquisitionParams":
        if self.tilt_max_deg < self.tilt_min_deg:
            raise ValueError(f"tilt_max_deg ({self.tilt_max_deg}) < tilt_min_deg ({self.tilt_min_deg}); swap them")
        if self.shift_max_px < self.shift_mean_px:
            raise ValueError("shift_max_px must be >= shift_mean_px")
        return self


class OpticsParams(Params):
    """Microscope optics: everything the contrast transfer function needs."""

    voltage_kv: float = Field(300.0, gt=0.0, le=3000.0)
    cs_mm: float = Field(2.7, ge=0.0)
    amplitude_contrast: float = Field(0.08, ge=0.0, lt=1.0)
    #: nominal defocus at the centre of the sample, > 0 underfocus
    defocus_um: float = 3.0
    #: astigmatism: defocus difference between the two principal axes, and the angle of the first one (from x)
    astigmatism_um: float = Field(0.0, ge=0.0)
    astigmatism_angle_deg: float = 0.0
    phase_plate: bool = False
    phase_shift_deg: float = 90.0
    #: B-factor of the whole image (resolution loss: drift, charging...), exp(-B k^2 / 4)
    b_factor_a2: float = Field(0.0, ge=0.0)
    #: PyTom's Gaussian CTF decay exp(-(k / (s k_Nyquist))^2), s in units of Nyquist (SHREC 2020: 0.4); 0 = none
    ctf_decay_nyquist: float = Field(0.0, ge=0.0)
    #: spatial coherence: illumination semi-angle (0 = perfectly coherent)
    illumination_aperture_mrad: float = Field(0.0, ge=0.0)
    #: temporal coherence: chromatic aberration and energy spread (0 = none)
    cc_mm: float = Field(2.7, ge=0.0)
    energy_spread_ev: float = Field(0.0, ge=0.0)

    # The physics works in Å: each conversion is written once, here.
    @property
    def defocus_a(self) -> float:
        """Nominal defocus in Å (> 0 underfocus)."""
        return self.defocus_um * 1e4

    @property
    def astigmatism_a(self) -> float:
        """Astigmatism (defocus difference of the principal axes) in Å."""
        return self.astigmatism_um * 1e4

    @property
    def cs_a(self) -> float:
        """Spherical aberration in Å."""
        return self.cs_mm * 1e7

    @property
    def cc_a(self) -> float:
        """Chromatic aberration in Å."""
        return self.cc_mm * 1e7


class ProjectionParams(Params):
    """How the exit wave / image is computed."""

    #: fast: weak-phase projection by depth slabs, each with its own defocus; multislice: SHREC 2020 wave propagation
    mode: Literal["fast", "multislice"] = "fast"
    #: depth slab thickness of the fast mode (the defocus gradient resolution); 0 = one slab (no gradient)
    slab_thickness_nm: float = Field(50.0, ge=0.0)
    #: slice thickness of the multislice mode (SHREC 2020: 5 nm)
    multislice_slice_nm: float = Field(5.0, gt=0.0)
    #: volts per grandmodel unit (the grandmodel is a scattering potential)
    potential_scale_v: float = Field(1.0, gt=0.0)
    #: views projected together (memory: about tilt_batch * n_slabs * ny * nx * 4 bytes)
    tilt_batch: int = Field(4, ge=1, le=64)

    @property
    def slab_thickness_a(self) -> float:
        """Depth slab thickness of the fast mode in Å."""
        return self.slab_thickness_nm * 10.0

    @property
    def multislice_slice_a(self) -> float:
        """Slice thickness of the multislice mode in Å."""
        return self.multislice_slice_nm * 10.0


class DetectorParams(Params):
    """Dose, noise, detector and beam damage (docs/microscope.md, "Noise models")."""

    #: dose: Poisson counts at the set dose (the reference); snr: white Gaussian noise reaching `snr`,
    #: variance ∝ each view's intensity; shrec2020: SHREC 2020's (PyTom's) coloured noise with `snr` as its
    #: nominal parameter; none: noise-free
    noise_mode: Literal["dose", "snr", "shrec2020", "none"] = "snr"
    #: snr mode: the target var(noise-free) / var(noise) of the tilt series; shrec2020 mode: PyTom's nominal SNR
    #: (0.004 gives a var-ratio of ~0.15, see docs/microscope.md)
    snr: float = Field(0.02, gt=0.0)
    detector: Literal["ideal", "counting"] = "counting"
    #: counting detector: DQE at zero frequency; DQE(k) = dqe_zero * MTF(k)^2 with MTF(k) = sinc(k) (k in cycles/pixel)
    dqe_zero: float = Field(0.8, gt=0.0, le=1.0)
    #: ice attenuation exp(-t / (mfp cos(tilt))); 0 disables it
    inelastic_mfp_nm: float = Field(350.0, ge=0.0)
    #: beam damage: grant_grigorieff (their critical exposure, 2015), b_factor (damage_b_per_e_a2) or none;
    #: applied for the dose the data correspond to (the set dose in dose mode, the equivalent dose otherwise)
    damage_model: Literal["grant_grigorieff", "b_factor", "none"] = "grant_grigorieff"
    #: b_factor damage model: B-factor growing with the dose accumulated before a view (Å^2 per e/Å^2)
    damage_b_per_e_a2: float = Field(2.0, ge=0.0)
    #: SHREC's structural noise: fresh Gaussian noise in the potential of every material voxel (ice or
    #: protein, not vacuum) for each view, std as a fraction of the ice potential (SHREC 2020: 0.04 / 0.15)
    structural_noise_rel: float = Field(0.0, ge=0.0)
