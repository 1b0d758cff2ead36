"""3D CNN subtomogram classifier: DoG+CNN picking and the subtomogram classification task.

3D CNN subtomogram classifier (Xu et al. 2017; YOPO in SHREC 2020): DoG+CNN picking and the
subtomogram classification task. ``tomobench baseline cnn``; see :mod:`baselines.classifier.cli`.
"""
