"""Write the JSON schemas of the project's on-disk reports into docs/ (tests check they are current).

Usage: ``python scripts/write_schemas.py``
"""

from pathlib import Path

from generator.scene.report import schema_json as scene_report_schema

DOCS = Path(__file__).resolve().parents[1] / "docs"
SCHEMAS = {"scene_report.schema.json": scene_report_schema}

if __name__ == "__main__":
    for name, make in SCHEMAS.items():
        (DOCS / name).write_text(make(), encoding="utf-8")
        print(f"wrote docs/{name}")
