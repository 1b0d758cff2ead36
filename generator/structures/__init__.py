"""Structure library: atomic models and maps -> templates, class metadata, multi-ball models.

Public entry points: :func:`build_library` (``StructureParams`` -> ``StructureLibrary``),
:class:`StructureParams`, and the library contract in :mod:`generator.structures.library`.
"""

from generator.structures.library import StructureLibrary, load_library, save_library
from generator.structures.params import StructureParams


def build_library(params: StructureParams | None = None) -> StructureLibrary:
    """Build the structure library described by ``params`` (see :mod:`generator.structures.build`)."""
    from generator.structures.build import build_library as _build

    return _build(params)


__all__ = ["StructureLibrary", "StructureParams", "build_library", "load_library", "save_library"]
