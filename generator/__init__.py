"""The tomobench simulator: structures -> scene -> microscope -> reconstruction.

Imports only :mod:`tomobench` and libraries (the dependency rule of docs/conventions.md).
"""
