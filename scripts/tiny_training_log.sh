#!/usr/bin/env bash
# A seeded tiny training, end to end (synth -> prepare -> train two architectures): prints the
# log.csv files (less their timing columns), so two versions of the code can be diffed on the same machine and install.
#   bash scripts/tiny_training_log.sh WORKDIR > log.txt
set -euo pipefail
work=${1:?usage: tiny_training_log.sh WORKDIR}
py=${PYTHON:-python}
rm -rf "$work" && mkdir -p "$work"
$py -m training synth --out "$work/mtat" --clips 64 --seed 3 >/dev/null 2>&1
$py -m training prepare --mtat-root "$work/mtat" --cache "$work/cache" >/dev/null 2>&1
for model in cnn1d cnn2d_gru; do
  $py -m training train --model "$model" --cache "$work/cache" --out "$work/runs" \
    --profile quick --epochs 3 --batch-size 4 --seed 7 --workers 0 --device cpu \
    --no-progress >/dev/null 2>&1
  echo "== $model"
  cut -d, -f1-7 "$work/runs/$model/log.csv"  # the timing columns vary from run to run
done
