"""tomobench baselines."""
