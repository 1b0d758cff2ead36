"""Presets: named parameter sets layered over ``params.yaml``.

``params.yaml`` (the repository root) holds every parameter of the pipeline; its
content *is* the ``default`` preset. Another preset is a YAML file
``params/<name>.yaml`` beside it that names only the keys it changes; applying
it is a deep merge (mappings merge key by key, any other value replaces).

Three ways to use a preset:

* ``tomobench simulate --preset NAME ...`` (merged in memory),
* ``eval "dvc exp run $(tomobench dataset preset NAME --set-params)"`` (a DVC experiment),
* ``tomobench dataset preset NAME --write params.yaml`` (rewrites the file).

Errors (unknown preset, bad YAML, a key of the wrong type) are
:class:`~tomobench.errors.InputError` naming the file and, where it can be
found, the line of the offending key.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tomobench.errors import InputError
from tomobench.params import describe_validation_error, read_yaml

DEFAULT = "default"
PARAMS_FILE = "params.yaml"
PRESET_DIR = "params"
SECTIONS = ("dataset", "structures", "scene", "imaging", "baselines", "scoring", "leaderboard")


def repo_params_file() -> Path:
    """The ``params.yaml`` shipped with the source tree (for runs outside a checkout's root)."""
    return Path(__file__).resolve().parents[1] / PARAMS_FILE


def find_params_file(path: str | Path | None = None) -> Path:
    """``path`` if given, else ``./params.yaml``, else the one shipped with the source tree."""
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError("parameter file not found", path)
        return path
    for candidate in (Path.cwd() / PARAMS_FILE, repo_params_file()):
        if candidate.is_file():
            return candidate
    raise InputError("no params.yaml here or in the tomobench source tree; give --params FILE", Path.cwd())


INCLUDE = "include"


def is_fragment(stem: str) -> bool:
    """Whether ``stem`` names a fragment, ``params/<section>_<preset>.yaml``.

    A fragment holds one section of a preset (the part that owns the section writes it); a preset
    pulls them in with ``include: [scene_crowded, ...]``.
    """
    return any(stem.startswith(section + "_") for section in SECTIONS)


def preset_names(params_file: str | Path) -> list[str]:
    """``default`` and the stems of ``params/*.yaml`` next to ``params_file`` (fragments left out)."""
    folder = Path(params_file).parent / PRESET_DIR
    names = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    return [DEFAULT] + [n for n in names if n != DEFAULT and not is_fragment(n)]


def read_preset(path: Path) -> tuple[dict[str, Any], list[Path]]:
    """A preset's overrides and the fragment files, in merge order.

    The overrides are its ``include`` fragments merged in order, then its own keys.
    """
    doc = read_yaml(path)
    includes = doc.pop(INCLUDE, None) or []
    if not isinstance(includes, list):
        raise InputError(f"{INCLUDE} must be a list of fragment names (scene_crowded, ...)", path,
                         key_line(path, INCLUDE))
    merged: dict[str, Any] = {}
    fragments: list[Path] = []
    for name in includes:
        fragment = path.parent / f"{name}.yaml"
        if not fragment.is_file():
            raise InputError(f"included fragment {name!r} not found ({fragment.name})", path, key_line(path, INCLUDE))
        part = read_yaml(fragment)
        check_sections(part, fragment)
        merged = deep_merge(merged, part)
        fragments.append(fragment)
    check_sections(doc, path)
    return deep_merge(merged, doc), fragments


def preset_file(name: str, params_file: str | Path) -> Path | None:
    """The override file of preset ``name`` (None for ``default``); unknown names are an error."""
    names = preset_names(params_file)
    if name not in names:
        raise InputError(f"no preset named {name!r}; the presets are: {', '.join(names)} "
                         f"(files {PRESET_DIR}/<name>.yaml beside {PARAMS_FILE})", params_file)
    if name == DEFAULT:
        return None
    return Path(params_file).parent / PRESET_DIR / f"{name}.yaml"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A new dict: ``base`` with ``override`` merged in (mappings recursively, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys -> leaf values (lists are leaves)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def key_line(path: str | Path, dotted: str) -> int | None:
    """1-based line of a dotted key in a YAML file (the deepest existing prefix), or None."""
    try:
        node = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    line = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if str(key_node.value) == part:
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line


def check_sections(doc: dict[str, Any], source: str | Path) -> None:
    """Refuse unknown top-level sections and sections that are not mappings (errors name the line)."""
    unknown = [k for k in doc if k not in SECTIONS]
    if unknown:
        raise InputError(f"unknown section {unknown[0]!r}; the sections are {', '.join(SECTIONS)}",
                         source, key_line(source, unknown[0]))
    for name in SECTIONS:
        if name in doc and doc[name] is not None and not isinstance(doc[name], dict):
            raise InputError(f"section {name!r} must be a mapping of keys", source, key_line(source, name))


def load_preset(name: str = DEFAULT, params_file: str | Path | None = None) -> tuple[dict[str, Any], list[Path]]:
    """The merged parameter document of preset ``name`` and the files it came from.

    The files are in merge order: base, the preset's included fragments, the preset.
    """
    base_path = find_params_file(params_file)
    override_path = preset_file(name, base_path)
    doc = read_yaml(base_path)
    check_sections(doc, base_path)
    sources = [base_path]
    if override_path is not None:
        overrides, fragments = read_preset(override_path)
        doc = deep_merge(doc, overrides)
        sources += [*fragments, override_path]
    return doc, sources


def set_params_args(name: str, params_file: str | Path | None = None) -> list[str]:
    """``-S key=value`` arguments of ``dvc exp run`` that apply preset ``name`` (its overrides only)."""
    base_path = find_params_file(params_file)
    override_path = preset_file(name, base_path)
    if override_path is None:
        return []
    args = []
    for key, value in flatten(read_preset(override_path)[0]).items():
        args += ["-S", f"{key}={json.dumps(value, separators=(',', ':'))}"]
    return args


def validate_section(model, doc: dict[str, Any], section: str, sources: list[Path]):
    """Validate ``doc[section]`` as ``model``; an error names the file and line that set the bad key."""
    try:
        return model.model_validate(doc.get(section) or {})
    except ValidationError as exc:
        message, key = describe_validation_error(exc, section)
        where, line = sources[0], None
        for src in reversed(sources):  # later files override earlier ones
            found = key_line(src, key)
            if found is not None and _sets_key(src, key):
                where, line = src, found
                break
        raise InputError(message, where, line) from None


def _sets_key(path: Path, dotted: str) -> bool:
    """Whether the YAML file at ``path`` names ``dotted`` or a prefix of it that is a leaf."""
    try:
        node: Any = read_yaml(path)
    except InputError:
        return False
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit():
            return True
        else:
            return False
    return True


def set_scalar(path: str | Path, dotted: str, value: Any) -> None:
    """Set one existing scalar key of a YAML file in place, keeping its comments and layout."""
    import re

    path = Path(path)
    line = key_line(path, dotted)
    leaf = dotted.split(".")[-1]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if line is None or not _sets_key(path, dotted):
        raise InputError(f"{dotted} is not set in this file; add it first", path)
    text = lines[line - 1]
    match = re.match(rf"^(\s*{re.escape(leaf)}\s*:\s*)([^#\n]*?)(\s*#.*)?(\n?)$", text)
    if not match:
        raise InputError(f"cannot edit {dotted} on this line (not a one-line scalar)", path, line)
    rendered = (json.dumps(value) if isinstance(value, str)
                else yaml.safe_dump(value).strip().removesuffix("...").strip())
    lines[line - 1] = match.group(1) + rendered + (match.group(3) or "") + match.group(4)
    path.write_text("".join(lines), encoding="utf-8")
