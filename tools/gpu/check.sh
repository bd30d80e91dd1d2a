#!/usr/bin/env bash
# The GPU check: one command on the device machine, with .gpu/ (tools/gpu/prepare.sh) carried.
#
#   tools/gpu/check.sh              on the GPU: install the carried wheels, unpack the subset, then
#                                   (a) the cuda-marked tests, (b) the benchmarks on the GPU,
#                                   (c) the paper suite with the gpu-smoke preset and its report
#   tools/gpu/check.sh --rehearse   the same steps here on the CPU at tiny sizes with .venv, so the
#                                   install, the paths and what comes back are proven first
#   --steps a,c                     only some steps
#
# Everything lands under $OUT (default .gpu/out), at most 8 files as the device tool returns them:
# summary.txt, a-tests.log, b-bench.json, b-models.json, c-tables.md, c-tables.csv, c-table.png,
# logs.tar.gz. The summary table is printed last; the exit code is 1 if any step failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REHEARSE=0
STEPS=a,b,c
while [ $# -gt 0 ]; do
  case "$1" in
    --rehearse) REHEARSE=1 ;;
    --steps) STEPS=$2; shift ;;
    *) echo "check.sh: unknown option $1 (--rehearse, --steps a,b,c)" >&2; exit 2 ;;
  esac
  shift
done
GPU_DIR=${GPU_DIR:-.gpu}  # what prepare.sh wrote
OUT=${OUT:-$ROOT/$GPU_DIR/out}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/senet-gpu-check.XXXXXX)
LOGS=$WORK/logs
mkdir -p "$LOGS" "$WORK/data" "$WORK/cache"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
FAILED=0
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg SENET_DATA_ROOT=$WORK/data SENET_CACHE_DIR=$WORK/cache

if [ "$REHEARSE" = 1 ]; then
  PY=$ROOT/.venv/bin/python
  DEVICE=cpu
  PRESET=tiny WORKERS=2 BUDGET_A=120 BUDGET_B=240 BUDGET_C=300 BENCH=--tiny
else
  PY=python3
  DEVICE=cuda
  PRESET=gpu-smoke WORKERS=4 BUDGET_A=150 BUDGET_B=150 BUDGET_C=210 BENCH=--quick
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$WORK/site" "$GPU_DIR"/wheels/*.whl \
    >"$LOGS/install.log" 2>&1 || { echo "install failed: see logs"; FAILED=1; }
  export PYTHONPATH=$WORK/site:$ROOT
  nvidia-smi >"$LOGS/nvidia-smi.txt" 2>&1
fi
"$PY" -m zipfile -e "$GPU_DIR/cifar10.zip" "$WORK/data" || { echo "check.sh: no $GPU_DIR/cifar10.zip (run tools/gpu/prepare.sh)" >&2; exit 2; }
"$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  >"$LOGS/versions.txt" 2>&1

step() {  # step NAME SECONDS COMMAND...: run with a time budget, log, record the outcome
  local name=$1 budget=$2 start rc
  shift 2
  start=$(date +%s)
  timeout --kill-after=15 "$budget" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  local took=$(( $(date +%s) - start ))
  local verdict=ok
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then verdict="TIMED OUT after ${budget} s"; FAILED=1
  elif [ $rc -ne 0 ]; then verdict="FAILED (exit $rc)"; FAILED=1; fi
  printf '%-28s %5s s  %s\n' "$name" "$took" "$verdict" >>"$SUMMARY"
}

wants() { [[ ",$STEPS," == *",$1,"* ]]; }

if wants a; then
  step a-cuda-tests "$BUDGET_A" "$PY" -m pytest -m cuda -q -p no:cacheprovider tests/gpu
  cp "$LOGS/a-cuda-tests.log" "$OUT/a-tests.log"
fi
if wants b; then
  step b-benchmarks "$BUDGET_B" "$PY" -m benchmarks $BENCH --device "$DEVICE" --format json --data-root "$WORK/data" \
    --out "$OUT/b-bench.json"
  if [ "$DEVICE" = cuda ]; then
    step b-models-224 90 "$PY" -m benchmarks.models --device cuda --batch 128 --out "$OUT/b-models.json"
  fi
fi
if wants c; then
  study=check-$PRESET
  step c-study "$BUDGET_C" "$PY" run_sweep.py --suite paper --preset "$PRESET" --study "$study" --workers "$WORKERS" \
    --device "$DEVICE" --run-dir "$WORK/runs" --data-root "$WORK/data" --no-progress
  step c-report 120 "$PY" -m report --study "$study" --tracking-uri "sqlite:///$WORK/runs/mlflow.db" --out "$WORK/report" \
    --format md,csv,pdf --no-log
  cp "$WORK/report/tables.md" "$OUT/c-tables.md" 2>/dev/null
  cp "$WORK/report/tables.csv" "$OUT/c-tables.csv" 2>/dev/null
  cp "$WORK/report/figures/table10.png" "$OUT/c-table.png" 2>/dev/null
fi
tar -czf "$OUT/logs.tar.gz" -C "$WORK" logs 2>/dev/null
echo
echo "GPU check ($([ "$REHEARSE" = 1 ] && echo 'CPU rehearsal' || echo "$DEVICE")): $(cat "$LOGS/versions.txt")"
cat "$SUMMARY"
exit $FAILED
