"""Typed parameters: pydantic models validated once, at the edge.

Every package describes its own section of ``params.yaml`` with a
:class:`Params` subclass (defaults = the ``default`` preset, units in the field
names). :func:`load_section` reads one section from a YAML file and turns a
validation failure into an :class:`~tomobench.errors.InputError` that names the
file, the key and what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from tomobench.errors import InputError


class Params(BaseModel):
    """Base of all parameter models: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


P = TypeVar("P", bound=Params)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file; :class:`InputError` (with the line) when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError("parameter file not found", path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', exc)})", path,
                         None if line is None else line + 1) from None
    if not isinstance(doc, dict):
        raise InputError("expected a mapping of sections at the top level", path)
    return doc


def validate(model: type[P], data: dict[str, Any] | None, *, source: str | Path = "<params>",
             section: str = "") -> P:
    """Validate ``data`` as ``model``; errors name ``source`` and the dotted key."""
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        raise InputError(describe_validation_error(exc, section)[0], source) from None


def describe_validation_error(exc: ValidationError, section: str = "") -> tuple[str, str]:
    """``("invalid parameters: key: what (got value); ...", first key)`` for ``exc``.

    The dotted keys start with ``section`` when one is given.
    """
    keys, problems = [], []
    for err in exc.errors():
        key = ".".join(str(p) for p in ((section,) if section else ()) + tuple(err["loc"]))
        keys.append(key)
        problems.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
    return "invalid parameters: " + "; ".join(problems), keys[0]


def load_section(path: str | Path, section: str, model: type[P]) -> P:
    """Read ``section`` of a YAML parameter file and validate it as ``model``."""
    doc = read_yaml(path)
    return validate(model, doc.get(section), source=path, section=section)
