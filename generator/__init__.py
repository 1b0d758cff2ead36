"""The tomobench simulator: structures -> scene -> microscope -> reconstruction.

Imports only :mod:`tomobench` and libraries (SPEC.md dependency rule).
"""
