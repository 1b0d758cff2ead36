"""tomobench scoring."""
