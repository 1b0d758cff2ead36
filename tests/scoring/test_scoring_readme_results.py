"""scripts/readme_results.py: the README's results tables from the pipeline's score reports, between markers."""

import importlib.util
import json
import sys
from pathlib import Path

import yaml

from scoring import score_particles
from tomobench.particles import make_particles

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("readme_results", ROOT / "scripts" / "readme_results.py")
readme_results = importlib.util.module_from_spec(spec)
sys.modules["readme_results"] = readme_results          # dataclasses look their module up
spec.loader.exec_module(readme_results)

README = """# project

before
<!-- results-table:begin -->
| stale |
<!-- results-table:end -->
middle
<!-- results-per-class:begin -->
| stale |
<!-- results-per-class:end -->
after
"""


def _pipeline_files(tmp_path, truth_dir):
    data = tmp_path / "data"
    (data / "scores").mkdir(parents=True)
    (data / "submissions").mkdir()
    # dog: 2 of 4 particles found as `unknown`; tm: A and B right, one background pick
    dog = score_particles(make_particles(["unknown", "unknown"], [(8, 8, 8), (20, 8, 8)]), truth_dir)
    tm = score_particles(make_particles(["A", "B", "A"], [(8, 8, 8), (20, 8, 8), (0, 0, 0)]), truth_dir)
    for name, report in (("dog", dog), ("tm", tm)):
        (data / "scores" / f"{name}.json").write_text(json.dumps(report))
    (data / "submissions" / "dog.timing.json").write_text(json.dumps({"train_s": 10.24, "infer_s": 0.66}))
    (data / "submissions" / "tm.timing.json").write_text(json.dumps({"train_s": 0.0, "infer_s": 12.06}))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"baselines": {"methods": ["dog", "tm"], "dog": {"grid_search": True},
                                                    "tm": {"rule": "F", "angular_step_deg": 40.0, "bin": 2}}}))
    return data, params


def test_tables_are_written_between_the_markers(tmp_path, truth_dir):
    data, params = _pipeline_files(tmp_path, truth_dir)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    argv = ["--params", str(params), "--data", str(data), "--readme", str(readme)]
    assert readme_results.main(argv + ["--check"]) == 1          # stale
    assert readme_results.main(argv) == 0
    text = readme.read_text()
    assert text.startswith("# project\n\nbefore\n") and "middle\n" in text and text.endswith("after\n")
    assert "| stale |" not in text
    lines = text.splitlines()
    # truth_dir: 4 scored particles (A, B, A, D). dog: RR 2, TP 2, FN 2, recall 0.5, precision 1, F1 2/3
    assert "| DoG (class `unknown`) | 2 | 2 | 0 | 2 | 0 | 0.00 | 0.500 | 1.000 | 0.667 | 0 | 0 | 0 | 0 " \
           "| 10.2 (grid search) / 0.7 |" in lines
    # tm: RR 3, TP 2, FP 1; recall 0.5, precision 2/3, F1 4/7 = 0.571
    tm = next(line for line in lines if line.startswith("| TM-F (40°, bin 2) |"))
    assert tm.startswith("| TM-F (40°, bin 2) | 3 | 2 | 1 | 2 | 0 | 0.00 | 0.500 | 0.667 | 0.571 |")
    assert tm.endswith("| – / 12.1 |")
    assert "bit-for-bit reproducible" in text and "learned baselines" in text
    # per class, by increasing mass: DoG classifies nothing and is left out; tm: A 2/3 (tp 1, fn 1), B 1, D 0
    assert "| class | TM-F (40°, bin 2) |\n|---|---|\n| A | 0.667 |\n| B | 1.000 |\n| D | 0 |\n" in text
    assert readme_results.main(argv + ["--check"]) == 0          # idempotent
    assert readme_results.main(argv) == 0 and readme.read_text() == text


def test_extra_rows_spread_and_missing_markers(tmp_path, truth_dir):
    data, params = _pipeline_files(tmp_path, truth_dir)
    readme = tmp_path / "README.md"
    readme.write_text(README)
    extra = data / "scores" / "tm.json"
    argv = ["--params", str(params), "--data", str(data), "--readme", str(readme),
            "--extra", f"TM-T¹={extra}", "--spread", f"unet={extra},{data / 'scores' / 'dog.json'}"]
    assert readme_results.main(argv) == 0
    text = readme.read_text()
    assert "| TM-T¹ | 3 | 2 | 1 |" in text
    assert "unet localization F1 0.571–0.667 over 2 seeds" in text
    # two classes at 0 for every baseline share one line, with their mass range (conftest: B 300, D 1000 kDa)
    only_a = readme_results.as_report(score_particles(make_particles(["A"], [(8, 8, 8)]), truth_dir))
    lines = readme_results.per_class_lines([readme_results.Row("a", "A-only", only_a)],
                                           {"A": 100, "B": 300, "D": 1000})
    assert lines[2:] == ["| the 2 classes of 300–1000 kDa at 0 for every baseline | 0 |", "| A | 0.667 |"]
    readme.write_text("no markers\n")
    assert readme_results.main(argv[:6]) == 2
