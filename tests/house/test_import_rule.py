"""The one-way import rule of the README, checked on every module (lazy imports inside functions included).

``tomobench`` (the core) imports no other package of the project; ``generator``,
``baselines`` and ``scoring`` import only ``tomobench``; ``leaderboard`` imports
``scoring`` and ``tomobench``. The CLI reaches the parts through entry points.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("tomobench", "generator", "baselines", "scoring", "leaderboard")
ALLOWED = {
    "tomobench": set(),
    "generator": {"tomobench"},
    "baselines": {"tomobench"},
    "scoring": {"tomobench"},
    "leaderboard": {"scoring", "tomobench"},
}


def project_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, top-level package)`` of every import of a project package in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in PACKAGES]
    return found


def test_the_rule_sees_imports_of_every_form(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import scoring.api\nfrom generator import x\n\ndef f():\n    from baselines.dog import y\n"
                   "from . import local\nimport numpy\n")
    assert project_imports(src) == [(1, "scoring"), (2, "generator"), (5, "baselines")]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, target in project_imports(path):
            if target != package and target not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, f"{package} may import only {sorted(ALLOWED[package]) or 'no other package'}: " + "; ".join(bad)
