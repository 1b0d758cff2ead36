"""The repository holds its own contracts: no file points outside it, and docs/conventions.md matches the code."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tomobench import groundtruth
from tomobench.classes import CLASS_COLUMNS, NON_PARTICLE_KINDS, SIZE_GROUPS
from tomobench.dataset import PUBLIC_TEST_FILES
from tomobench.particles import FORMATS

ROOT = Path(__file__).resolve().parents[2]
CONVENTIONS = ROOT / "docs" / "conventions.md"
# spelled in two pieces so that this file does not mention it itself
OUTSIDE_FILE = "SPEC" + ".md"


def repository_files() -> list[Path]:
    """Tracked files plus new files git does not ignore (what a commit of this worktree would hold)."""
    done = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"not a git checkout: {done.stderr.strip()}")
    return [ROOT / rel for rel in done.stdout.split("\0") if rel and (ROOT / rel).is_file()]


def test_no_file_of_the_repository_refers_to_a_file_outside_it():
    files = repository_files()
    assert len(files) > 50 and ROOT / "README.md" in files          # the listing is the repository
    mentions = [f"{path.relative_to(ROOT)}:{n}" for path in files
                for n, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1)
                if OUTSIDE_FILE in line]
    assert mentions == []


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"docs/conventions.md has no section {title!r}"
    return match.group(1)


def test_conventions_state_the_file_names_and_columns_the_code_uses():
    text = CONVENTIONS.read_text(encoding="utf-8")
    truth = _section(text, "Ground truth of one tomogram")
    names = [getattr(groundtruth, n) for n in ("GRANDMODEL", "CLASS_MASK", "OCCUPANCY_MASK", "PARTICLE_LOCATIONS",
                                                "PARTICLES_PARQUET", "RECONSTRUCTION", "PROJECTIONS", "TILT_ANGLES",
                                                "CLASSES_CSV")]
    assert [n for n in names if f"`{n}`" not in truth] == []
    classes = _section(text, "Class table")
    assert ", ".join(CLASS_COLUMNS) in " ".join(classes.split())         # all columns, in the code's order
    assert all(f"`{kind}`" in classes for kind in NON_PARTICLE_KINDS)
    assert all(group in classes for group in SIZE_GROUPS)
    layout = _section(text, "Data layout of the pipeline")
    assert ", ".join(PUBLIC_TEST_FILES) in layout                        # what the public test folders hold
    formats = _section(text, "File formats")
    assert all(ext in formats for ext in (".txt", ".csv", ".star", ".json")) and len(FORMATS) == 4
    assert "score_report.schema.json" in _section(text, "Score report")
