"""3D U-Net segmentation baseline (SHREC 2020 style: DeepFinder, UMC).

``tomobench baseline unet --data PUBLIC --out SUBMISSION``; see :mod:`baselines.unet.cli`.
"""
