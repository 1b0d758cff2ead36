#!/usr/bin/env bash
# `make run`: the main job on the built-in default preset.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "make run: not yet wired to the pipeline" >&2
exit 1
