"""tomobench core: data contracts shared by the generator, baselines, scorer and leaderboard.

Conventions (see ``docs/conventions.md``):

* volumes are numpy arrays indexed ``[z, y, x]``, voxel size in Å;
* particle coordinates are ``x, y, z`` in voxels, 0-based, voxel centres on integers;
* orientations are ZXZ Euler angles in degrees (:mod:`tomobench.euler`).
"""

__version__ = "0.1.0"
