"""Shared helpers of the scene tests."""

from generator.scene import SceneParams

NO_EXTRAS = dict(membranes=dict(n_vesicles=0, n_ellipsoids=0), filaments=dict(n_microtubules=0, n_actin=0),
                 fiducials=dict(count=0))


def small_params(**kw) -> SceneParams:
    """A 96 x 96 x 48 scene with every kind of object (keyword arguments override)."""
    base = dict(shape_xyz=(96, 96, 48), slab_thickness_vox=40, n_particles=60,
                membranes=dict(n_vesicles=1, n_ellipsoids=1, radius_range_a=(100.0, 160.0), bound_classes=["asym"],
                               bound_fraction=0.2),
                filaments=dict(n_microtubules=0, n_actin=2, length_range_a=(400.0, 800.0)),
                fiducials=dict(count=2), clusters=dict(enabled=True, fraction=0.3, mean_size=4))
    base.update(kw)
    return SceneParams(**base)
