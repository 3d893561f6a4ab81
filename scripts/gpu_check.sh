#!/usr/bin/env bash
# The CUDA path on one NVIDIA GPU, in under 10 minutes (each step has its own time limit):
#   1. driver and libraries: nvidia-smi, onnxruntime.preload_dlls() + print_debug_info()
#      ("Failed to load" fails the check)
#   2. every model on CUDA through app.registry: node placement, load and warm-up times
#   3. GPU-vs-CPU parity on the MTAT clip: max |dp| <= 1e-4 without TF32 (gate), with TF32 (reported);
#      cuDNN's 1-D convolution layout, cudnn_conv1d_pad_to_nc1d off vs on (reported); the musicnn
#      ports' CPU-shaped graphs against their direct form: commit 88912f7's graphs (timbral filters
#      as direct convolutions, the mel DFT as one convolution; from git or from
#      gpu_forms/<model>_direct.onnx) against the shipped ones (both through DFTs; reported)
#   4. the service with TAGGER_PROVIDERS=cuda: /readyz with fallback false, then the serving
#      benchmark at 1/16/64 requests in flight
#   5. CUDA_VISIBLE_DEVICES="": auto falls back with a reason, cuda refuses to start
# Usage: scripts/gpu_check.sh [REPORT_DIR]   (default: $OUT when set, else reports/gpu)
# On a bare machine lent by the `device` tool: scripts/device_gpu_check.sh (it brings the packages).
# Exit status 1 when a gate failed; the report (gpu_check.md) says which.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
PY=${PY:-python}
REPORT_DIR=${1:-${OUT:-reports/gpu}}
PORT=${GPU_CHECK_PORT:-8765}
mkdir -p "$REPORT_DIR"
REPORT="$REPORT_DIR/gpu_check.md"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
FAILED=()

{
    echo "# GPU check"
    echo
    echo "$(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} >"$REPORT"

section() { printf '\n## %s\n\n' "$1" >>"$REPORT"; echo "== $1"; }
block() { { echo '```'; cat "$1"; echo '```'; } >>"$REPORT"; }
fail() { FAILED+=("$1"); echo "FAILED: $1" | tee -a "$REPORT"; }
# fetch URL: the body of a GET (no curl needed), nothing on an error
fetch() { "$PY" -c 'import sys, urllib.request as r; print(r.urlopen(sys.argv[1], timeout=5).read().decode())' "$1" 2>/dev/null; }

# run LIMIT_S OUTFILE COMMAND...: the command's stdout+stderr in OUTFILE, its status returned
run() {
    local limit=$1 out=$2
    shift 2
    local t0=$SECONDS status
    timeout "$limit" "$@" >"$out" 2>&1
    status=$?
    echo "(exit $status after $((SECONDS - t0)) s, limit ${limit} s)" >>"$out"
    return $status
}

section "1. Driver and libraries"
run 30 "$WORK/smi" nvidia-smi || fail "nvidia-smi"
block "$WORK/smi"
run 60 "$WORK/ort" "$PY" -c 'import onnxruntime as ort; ort.preload_dlls(); ort.print_debug_info()' ||
    fail "onnxruntime debug info"
block "$WORK/ort"
if grep -q "Failed to load" "$WORK/ort"; then fail "preload_dlls: $(grep -m3 'Failed to load' "$WORK/ort")"; fi

section "2. Every model on CUDA (placement, load and warm-up ms)"
run 150 "$WORK/models" "$PY" -m benchmarks.gpu models --providers cuda || fail "models on CUDA"
block "$WORK/models"
if grep '^{' "$WORK/models" | grep -v '"provider": "CUDAExecutionProvider"' | grep -q .; then
    fail "a model is not on CUDA (see the lines above)"
fi

section "3. GPU vs CPU parity on the MTAT clip"
run 100 "$WORK/parity" "$PY" -m benchmarks.gpu parity --against cuda --tolerance 1e-4 ||
    fail "parity without TF32 (max |dp| > 1e-4 or an error)"
echo "Without TF32 (gate: max |dp| <= 1e-4):" >>"$REPORT"
block "$WORK/parity"
run 100 "$WORK/parity_tf32" "$PY" -m benchmarks.gpu parity --against cuda --tf32 --report-only ||
    fail "parity with TF32 did not run"
echo "With TF32 (reported only):" >>"$REPORT"
block "$WORK/parity_tf32"
run 120 "$WORK/conv1d" "$PY" -m benchmarks.gpu --model won_musicnn --model pons_musicnn \
    --model won_fcn --model pons_vgg --model cnn1d --model chunk_cnn1d conv1d --providers cuda --rounds 3 ||
    fail "cudnn_conv1d_pad_to_nc1d comparison did not run"
echo "cudnn_conv1d_pad_to_nc1d off vs on (reported only; off_over_on > 1: on is faster):" >>"$REPORT"
block "$WORK/conv1d"
echo "Direct graphs of 88912f7 (a) against the shipped DFT forms (b), batch 16 (reported only; a_over_b > 1: shipped faster):" >>"$REPORT"
for m in won_musicnn pons_musicnn; do
    direct="$WORK/${m}_direct.onnx"
    if ! git show "88912f7:models/$m/model.onnx" >"$direct" 2>/dev/null &&
        ! cp "gpu_forms/${m}_direct.onnx" "$direct" 2>/dev/null; then
        echo "$m: no direct form here (no git history, no gpu_forms/${m}_direct.onnx)" >>"$REPORT"
        continue
    fi
    run 90 "$WORK/forms_$m" "$PY" -m benchmarks.gpu ab "$direct" "models/$m/model.onnx" \
        --providers cuda --batch 16 || fail "$m: direct vs shipped form did not run"
    block "$WORK/forms_$m"
done

section "4. The service on CUDA"
TAGGER_PROVIDERS=cuda "$PY" -m uvicorn app.main:app --host 127.0.0.1 --port "$PORT" \
    >"$WORK/server" 2>&1 &
SERVER=$!
READY=""
for _ in $(seq 1 60); do
    READY=$(fetch "http://127.0.0.1:$PORT/readyz") && break
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 1
done
echo "/readyz: ${READY:-no answer}" >>"$REPORT"
fetch "http://127.0.0.1:$PORT/models" >"$WORK/models.json" &&
    "$PY" -c 'import json, sys
for m in json.load(open(sys.argv[1]))["models"]:
    if m["loaded"]:
        print(m["name"], m["provider"], "placement", m["placement"], "load_ms", m["load_ms"], "warmup_ms", m["warmup_ms"])' \
        "$WORK/models.json" >>"$REPORT"
kill "$SERVER" 2>/dev/null
wait "$SERVER" 2>/dev/null
case "$READY" in
*'"fallback":false'*'CUDAExecutionProvider'* | *'CUDAExecutionProvider'*'"fallback":false'*) ;;
*) fail "service with TAGGER_PROVIDERS=cuda not ready on CUDA without fallback"; tail -20 "$WORK/server" >>"$REPORT" ;;
esac
run 110 "$WORK/bench" "$PY" -m benchmarks.serving --providers cuda --concurrency 1,16,64 \
    --requests 64 --floor-requests 16 --clips 4 --no-torch --json-out "$REPORT_DIR/serving.json" ||
    fail "serving benchmark on CUDA"
block "$WORK/bench"

section "5. No visible GPU"
CUDA_VISIBLE_DEVICES="" run 60 "$WORK/auto" "$PY" -m benchmarks.gpu --model cnn1d models --providers auto
block "$WORK/auto"
if ! grep -q '"fallback": true, "fallback_reason": "' "$WORK/auto"; then
    fail "auto without a visible GPU did not fall back with a reason"
fi
CUDA_VISIBLE_DEVICES="" TAGGER_PROVIDERS=cuda run 60 "$WORK/refuse" \
    "$PY" -m uvicorn app.main:app --host 127.0.0.1 --port "$PORT"
STATUS=$?
tail -5 "$WORK/refuse" | sed 's/^/    /' >>"$REPORT"
if [ "$STATUS" -eq 0 ] || [ "$STATUS" -eq 124 ] || ! grep -q "refusing to start" "$WORK/refuse"; then
    fail "TAGGER_PROVIDERS=cuda without a visible GPU did not refuse to start (exit $STATUS)"
fi

section "Result"
if [ ${#FAILED[@]} -eq 0 ]; then
    echo "all gates passed" | tee -a "$REPORT"
    exit 0
fi
printf -- '- %s\n' "${FAILED[@]}" | tee -a "$REPORT"
exit 1
