"""Reading a baseline's parameters: ``params.yaml`` section ``baselines.<method>``, then CLI overrides."""

from __future__ import annotations

from typing import Any, TypeVar

from tomobench.errors import InputError
from tomobench.params import Params, read_yaml, validate

P = TypeVar("P", bound=Params)


def load_method_params(model: type[P], method: str, path: str | None, overrides: dict[str, Any]) -> P:
    """A baseline's parameter model read from a params file, with overrides.

    ``model`` validated from ``baselines.<method>`` of ``path`` (defaults without a file), with the
    non-None ``overrides`` applied on top.
    """
    data: dict[str, Any] = {}
    source = path or "<defaults>"
    if path:
        section = read_yaml(path).get("baselines") or {}
        if not isinstance(section, dict):
            raise InputError("the 'baselines' section must be a mapping", path)
        data = dict(section.get(method) or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    params = validate(model, data, source=source, section=f"baselines.{method}")
    check = getattr(params, "check_patches", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise InputError(f"baselines.{method}: {exc}", source) from None
    return params
