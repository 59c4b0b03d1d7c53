#!/usr/bin/env bash
# The laptop-track search: short runs of candidate recipes on this machine's 2 cores, each appended to
# vit_core/results/cpu_experiments.jsonl (recipe, img/s, accuracy, minutes, load average). Stage 1 ranks recipes at a
# fixed 1 epoch (accuracy does not depend on machine load); stage 2 is the 15-minute run of the winner.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOG=${LOG:-results/cpu_experiments.jsonl}
# Stage 1 ran with the preset's first values (batch 128, lr 2e-3); its best (batch 64, lr 1.4e-3) is the preset now.
run() { note=$1; shift; $PY -m vit_core.train --preset laptop --time-budget none --quiet --eval-every 0 \
  --out "runs/search/$(echo "$note" | tr ' /=,' '____')" --log-to "$LOG" --note "$note" "$@"; }

stage=${1:-1}
if [ "$stage" = 1 ]; then
  run "1 epoch: laptop default (conv stem 32,64; 4x128; mlp 2)" --epochs 1 --batch-size 128 --lr 2e-3
  run "1 epoch: lighter conv stem 16,32" --epochs 1 --stem-channels 16,32 --batch-size 128 --lr 2e-3
  run "1 epoch: plain ViT (patch 4, no conv stem), same size" --epochs 1 --model vit_laptop_plain --batch-size 128 --lr 2e-3
  run "1 epoch: lr 3e-3" --epochs 1 --lr 3e-3 --batch-size 128
  run "1 epoch: batch 64, lr 1.4e-3" --epochs 1 --batch-size 64 --lr 1.4e-3
  run "1 epoch: depth 6, stem 16,32" --epochs 1 --depth 6 --stem-channels 16,32 --batch-size 128 --lr 2e-3
  run "1 epoch: no label smoothing" --epochs 1 --label-smoothing 0 --batch-size 128 --lr 2e-3
fi
if [ "$stage" = 2 ]; then
  # The shipped checkpoint: the preset as it is, 15 minutes, then the plain ViT of the same size for comparison.
  $PY -m vit_core.train --preset laptop --quiet --out runs/laptop --log-to "$LOG" --note "15 min: laptop preset"
  $PY -c "import json; s = json.load(open('runs/laptop/summary.json')); json.dump({k: s[k] for k in ('test_accuracy',
    'train_seconds', 'device', 'command', 'commit', 'epochs', 'model', 'params', 'img_per_s', 'torch', 'data',
    'per_class_accuracy', 'recipe', 'stopped_by', 'load_avg_start', 'load_avg_end')},
    open('vit_core/results/cpu_laptop.json', 'w'), indent=2)"
  $PY -m vit_core.ship runs/laptop --name vit_laptop
fi
if [ "$stage" = 3 ]; then
  $PY -m vit_core.train --preset laptop --model vit_laptop_plain --quiet --out runs/laptop_plain --log-to "$LOG" \
    --note "15 min: plain ViT of the same size, same recipe"
fi
