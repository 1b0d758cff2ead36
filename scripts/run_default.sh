#!/usr/bin/env bash
# `make run`: the whole benchmark on the `default` preset (params.yaml), end to end:
#   set-up (local DVC remotes) -> dvc repro (structures, simulate@tomo_*, package,
#   baseline@{dog,tm,unet,cnn}, score@*, leaderboard: results table + import into the
#   leaderboard's store) -> dvc push to the two local remotes -> SHREC tables of every
#   baseline -> what the leaderboard now shows, and how to open it.
# Re-running it is cheap: DVC reruns only stages whose code, data or parameters changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
export PATH="$VENV/bin:$PATH"                      # `tomobench`, `dvc` and `python` of the venv
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
start=$(date +%s)
say() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - start ))" >&2; }

say "set-up"
command -v dvc >/dev/null || { echo "dvc not found in $VENV; run 'make setup'" >&2; exit 1; }
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "not a git checkout: DVC needs git (git init && git add -A && git commit) " >&2; exit 1
fi
# The two local remotes of .dvc/config (public data / everything else, incl. the hidden test truth).
mkdir -p .dvc-remotes/public .dvc-remotes/private
dvc remote list >&2

say "dvc repro (default preset: $(python -c 'import yaml; d=yaml.safe_load(open("params.yaml"))["dataset"]; print(d["n_tomos"], "tomograms,", d["n_test"], "for test")'))"
dvc repro

say "dvc push (data/public -> remote 'public', the rest -> remote 'private')"
dvc push -q || echo "warning: dvc push failed; the results are complete, the remotes are not" >&2

say "results"
methods=$(python -c 'import yaml; print(" ".join(yaml.safe_load(open("params.yaml"))["baselines"]["methods"]))')
for method in $methods; do
  echo
  echo "################ baseline: $method ################"
  # the report the score stage stored (scored with params.yaml's scoring section), not a re-score
  python -c 'import json, sys, scoring; print(scoring.format_report(json.load(open(sys.argv[1])), title=sys.argv[2]))' \
    "data/scores/$method.json" "data/submissions/$method.csv vs data/private/test" \
    | awk '/Table 4/{skip=1} /Table 6/{skip=0} !skip'   # SHREC Tables 3 and 6 (Table 4 in data/scores/)
done
echo
dvc metrics show 2>/dev/null | head -20 || true

say "done in $(( $(date +%s) - start )) s"
cat <<'EOF'
Outputs: data/public (what participants pull, with its dataset card README.md),
data/private/test (hidden test truth), data/submissions, data/scores (full JSON reports),
data/results.parquet (the results table), data/plots (dvc plots show).
EOF
# the `leaderboard` stage imported the baselines into the leaderboard's store: say what it holds
if populated=$(python scripts/collect_results.py --leaderboard-status); then
  echo "The leaderboard is populated: $populated."
else
  echo "warning: the leaderboard's store holds no baseline of this dataset; run: tomobench leaderboard import" >&2
fi
echo "Open the leaderboard:   make leaderboard      (or: tomobench leaderboard serve; http://localhost:8501)"
