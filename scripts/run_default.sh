#!/usr/bin/env bash
# `make run`: the main job. Until the DVC pipeline lands this scores a worked example.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/example_score.py
