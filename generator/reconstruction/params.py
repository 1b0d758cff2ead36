"""Parameters of the tomographic reconstruction (defaults = the ``default`` preset)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tomobench.params import Params


class ReconstructionParams(Params):
    """How the tilt series becomes the tomogram a participant sees."""

    #: wbp: weighted back-projection; sirt: simultaneous iterative reconstruction
    method: Literal["wbp", "sirt"] = "wbp"
    #: window multiplying the ramp filter (none = pure Ram-Lak)
    apodization: Literal["none", "hann", "hamming", "cosine", "shepp_logan"] = "hann"
    #: frequency (fraction of Nyquist) where the window reaches zero
    apodization_cutoff: float = Field(1.0, gt=0.0, le=1.0)
    sirt_iterations: int = Field(10, ge=1, le=500)
    sirt_relaxation: float = Field(1.0, gt=0.0, lt=2.0)
    #: phase_flip: multiply each view's spectrum by the sign of its CTF at the nominal defocus before back-projection
    ctf_correction: Literal["none", "phase_flip"] = "none"
    #: protein_bright: dense matter positive (what template matching and DoG read as "dense");
    #: protein_dark: IMOD's convention, as the raw projections show it (dense matter negative)
    contrast: Literal["protein_bright", "protein_dark"] = "protein_bright"
    #: thickness of the reconstruction in voxels; null = the grandmodel's (same grid, ground truth indexes it directly)
    thickness_vox: int | None = Field(None, ge=1)
    #: also reconstruct the noise-free tilt series (cryo-TomoSim's "prior"), written as noise_free_reconstruction.mrc
    noise_free: bool = False
