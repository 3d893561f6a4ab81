#!/usr/bin/env bash
# scripts/gpu_check.sh on a machine lent by the `device` tool, which has Python 3.12 and CUDA's
# libraries but none of the service's packages and no package index. Here, before the lease:
#     python -m benchmarks.gpukit build      # the kit in .gpukit/1 .. N, one part per call
# then, back to back (the machine keeps what earlier calls brought only while it stays warm),
# the calls `python -m benchmarks.gpukit plan` prints: each carries one part and runs this
# script, which exits 3 naming the parts still to send until all are there, then extracts the
# kit, checks it fits the GPU (`python -m benchmarks.gpukit doctor`) and runs the check.
# The report lands in $OUT (else reports/gpu). Exit status: gpu_check.sh's; 3 while parts are
# still to send; 2 when the kit is broken or does not fit this machine.
# GPUKIT_PARTS: the parts' folder (default .gpukit); GPUKIT_DIR: where to extract them.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
PY=${PY:-python3}
PARTS=${GPUKIT_PARTS:-.gpukit}
KIT_DIR=${GPUKIT_DIR:-/tmp/gpukit}

"$PY" -m benchmarks.gpukit unpack --kit "$PARTS" --to "$KIT_DIR"
STATUS=$?
if [ "$STATUS" -ne 0 ]; then
    "$PY" -m benchmarks.gpukit facts # while waiting for parts: what this machine is
    exit "$STATUS"
fi
if compgen -G "$KIT_DIR/gpu_forms/*.onnx" >/dev/null; then
    mkdir -p gpu_forms && cp "$KIT_DIR"/gpu_forms/*.onnx gpu_forms/ # gpu_check.sh reads them there
fi
export PYTHONPATH="$KIT_DIR/site:$PWD"
"$PY" -m benchmarks.gpukit doctor --kit "$PARTS" --site "$KIT_DIR/site" || exit 2
PY="$PY" bash scripts/gpu_check.sh "${OUT:-reports/gpu}"
