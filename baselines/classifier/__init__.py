"""3D CNN subtomogram classifier: DoG+CNN picking and the subtomogram classification task.

After Xu et al. 2017 (YOPO in SHREC 2020). ``tomobench baseline cnn``; see :mod:`baselines.classifier.cli`.
"""
