"""``acquisition.json``: how a tomogram was imaged, written and read through one typed model.

The generator writes it beside every reconstruction; participants (and the
baselines) read the optics and tilt angles from it. Units are in the names:
``_kv`` kilovolts, ``_mm``/``_um`` millimetres/micrometres, ``_deg`` degrees,
``_a`` Å, ``_e_per_a2`` electrons per Å², ``_vox`` voxels. The SNR is the measured
one, in the definition that ``snr_definition`` states (docs/microscope.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from tomobench.errors import InputError

ACQUISITION_JSON = "acquisition.json"


class AcquisitionRecord(BaseModel):
    """The content of ``acquisition.json`` (field order = the file's key order)."""

    model_config = ConfigDict(extra="forbid")

    voltage_kv: float
    cs_mm: float
    amplitude_contrast: float
    defocus_um: float                           # nominal, at the sample's centre, > 0 underfocus
    astigmatism_um: float
    astigmatism_angle_deg: float
    ctf_decay_nyquist: float                    # PyTom's Gaussian CTF decay (0: none)
    tilt_angles_deg: list[float]                # nominal angles, ascending
    tilt_axis_deg: float                        # IMOD's angle on the detector, counter-clockwise
    reconstruction_tilt_axis_deg: float         # the reconstruction's tilt axis (0: along y)
    projection_shape_yx: list[int]
    tilt_scheme: str
    voxel_size_a: float
    noise_mode: str                             # dose | snr | shrec2020 | none
    snr_definition: str
    snr: float | None                           # = snr_measured
    snr_measured: float | None
    snr_measured_per_view: list[float | None]
    snr_nominal: float | None                   # the noise model's parameter (snr, shrec2020 modes)
    dose_total_e_per_a2: float                  # the dose the data correspond to (damage applied for it)
    equivalent_dose_total_e_per_a2: float | None  # the dose model's dose for the measured SNR
    damage_model: str
    structural_noise_rel: float
    phase_plate: bool
    phase_shift_deg: float
    projection_mode: str                        # fast | multislice
    detector: str
    reconstruction_method: str
    reconstruction_contrast: str                # protein_bright | protein_dark (IMOD)
    ctf_correction: str
    reconstruction_shape_zyx: list[int]
    reconstruction_z_offset_vox: int
    projection_units: str

    def to_json(self) -> str:
        """The file's text (two-space indent, keys in field order, a final newline)."""
        return json.dumps(self.model_dump(), indent=2) + "\n"      # json's float format, as always

    def write(self, path: str | Path) -> Path:
        """Write the record to ``path``; returns the path."""
        Path(path).write_text(self.to_json(), encoding="utf-8")
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> AcquisitionRecord:
        """Read and validate ``path``; an :class:`InputError` names the file and the bad fields."""
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{ACQUISITION_JSON} not found", path) from None
        except ValidationError as err:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(file)" for e in err.errors()[:5])
            raise InputError(f"not a valid {ACQUISITION_JSON} ({fields}): {err.errors()[0]['msg']}", path) from None
