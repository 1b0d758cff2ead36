"""Services the parts of tomobench offer each other through entry points.

The dependency rule (docs/conventions.md) lets ``baselines`` import only ``tomobench``; a
baseline that tunes itself on the training split (the DoG grid search) still
needs the project's scorer. ``scoring`` registers it under the entry-point group
:data:`SCORER_GROUP` (``pyproject.toml``) and :func:`scorer` hands it out, so
neither package imports the other.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable

SCORER_GROUP = "tomobench.scorers"


def scorer(name: str = "shrec") -> Callable[..., dict[str, Any]]:
    """The scoring function ``score(picks: DataFrame, truth) -> report dict`` registered as ``name``."""
    found = {ep.name: ep for ep in entry_points(group=SCORER_GROUP)}
    if name not in found:
        raise LookupError(f"no scorer {name!r} is installed (entry-point group {SCORER_GROUP!r}: "
                          f"{sorted(found) or 'empty'}); reinstall tomobench with 'make setup'")
    return found[name].load()
