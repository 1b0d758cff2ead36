"""Tomographic reconstruction: weighted back-projection, SIRT, CTF phase flipping."""

from generator.reconstruction.params import ReconstructionParams
from generator.reconstruction.wbp import contrast_images, reconstruct, sirt, wbp

__all__ = ["ReconstructionParams", "contrast_images", "reconstruct", "sirt", "wbp"]
