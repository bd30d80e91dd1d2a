#!/usr/bin/env bash
# Prepare the GPU check (run here: it needs the package registry). Writes $GPU_DIR (default
# .gpu/, ignored):
#   wheels/       cp312 manylinux wheels of what the GPU machine lacks (tools/gpu/present.txt)
#   cifar10.zip   a class-balanced CIFAR-10 subset (10,000 train + 2,000 test JPEGs)
# and fails if the wheels, the subset and the repository together exceed 60 MiB (the device
# tool carries 64 MiB a call). Options: --no-wheels (the rehearsal), --train N, --test N.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
GPU_DIR=${GPU_DIR:-.gpu}  # what the check carries
TRAIN=10000 TEST=2000 WHEELS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-wheels) WHEELS=0 ;;
    --train) TRAIN=$2; shift ;;
    --test) TEST=$2; shift ;;
    *) echo "prepare.sh: unknown option $1 (--no-wheels, --train N, --test N)" >&2; exit 2 ;;
  esac
  shift
done
DATA=${SENET_DATA_ROOT:-../shared/data}
[ -d "$DATA/cifar10/train" ] || { echo "prepare.sh: no CIFAR-10 under $DATA (set SENET_DATA_ROOT)" >&2; exit 2; }
mkdir -p "$GPU_DIR"
if [ "$WHEELS" = 1 ]; then
  rm -rf "$GPU_DIR/wheels"
  "$PY" tools/gpu/carry.py wheels "$GPU_DIR/wheels"
fi
"$PY" tools/gpu/carry.py subset "$GPU_DIR/cifar10.zip" --root "$DATA" --train "$TRAIN" --test "$TEST"
repo=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb "$GPU_DIR/cifar10.zip" $([ -d "$GPU_DIR/wheels" ] && echo "$GPU_DIR/wheels") | tail -1 | cut -f1)
total=$((repo + carried))
awk -v r="$repo" -v c="$carried" -v t="$total" 'BEGIN { printf "repository %.1f MiB + wheels and subset %.1f MiB = %.1f MiB (limit 60)\n", r/1048576, c/1048576, t/1048576 }'
if [ "$total" -gt $((60 * 1048576)) ]; then
  echo "prepare.sh: over 60 MiB; carry a smaller subset (--train, --test)" >&2
  exit 1
fi
echo "ready: run tools/gpu/check.sh there, with carry [\"$GPU_DIR\"] (see tools/gpu/README.md)"
