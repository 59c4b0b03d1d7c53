#!/usr/bin/env bash
# The laptop-track search on this machine's 2 cores. Every run appends a line to
# vit_core/results/cpu_experiments.jsonl (recipe, img/s, accuracies, minutes, load).
# Stages that compare recipes run at equal epochs on a validation split (their accuracy
# does not depend on the machine's load, so two may share the machine, a thread each);
# the time-budget stages must run alone (load average under 0.5 at the start).
#   scripts/cpu_search.sh 1            1 epoch each: the first laptop search
#   scripts/cpu_search.sh muon         2 epochs each: AdamW against Muon
#   scripts/cpu_search.sh plain-hour   the plain CLS ViT, 60 minutes; shipped
#   scripts/cpu_search.sh plain-hour-seed  the same with seed 1, for the spread; logged
#   scripts/cpu_search.sh hour         the hybrid, 60 minutes; shipped
#   scripts/cpu_search.sh hour-patch-drop  the same, patch dropout as flags; recorded
#   scripts/cpu_search.sh hour-lr      2 epochs each: the hybrid's Muon learning rate
#   scripts/cpu_search.sh laptop       the laptop preset, 15 minutes; shipped
#   scripts/cpu_search.sh laptop-seed [SEED]  the same with seed 1 (or SEED); logged
#   scripts/cpu_search.sh laptop-patch-drop  patch dropout, before the preset had it
#   scripts/cpu_search.sh patch-drop   3 epochs each: half the patches dropped early
#   scripts/cpu_search.sh patch-drop-seed  the plain ViT's pair, seed 1, side by side
#   scripts/cpu_search.sh patch-drop-more  3/4 of the patches dropped, 4 epochs, 2 seeds
#   scripts/cpu_search.sh precision-bench  a step in fp32 and in bf16 (alone)
#   scripts/cpu_search.sh compile-bench  a step eager and compiled (alone)
#   scripts/cpu_search.sh batch-128 [SEED]  15 min each, val, side by side: 64, 128
#   scripts/cpu_search.sh pair SEED WHAT FLAGS...  the same: the preset, and with FLAGS
#   scripts/cpu_search.sh hour-pair SEED WHAT FLAGS...  laptop-hour's, 60 minutes each
#   scripts/cpu_search.sh hour-seeds WHAT FLAGS...  laptop-hour with FLAGS, seeds 0 and 1
#   scripts/cpu_search.sh patch-bench  the step's speed with patches dropped (alone)
#   scripts/cpu_search.sh step-bench   a step's parts; Muon stacked or not (alone)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
LOG=${LOG:-vit_core/results/cpu_experiments.jsonl}

# A short run of the laptop recipe (or $preset's), other flags on top: run NOTE FLAGS...
run() {
  note=$1
  shift
  $PY -m vit_core.train --preset "${preset:-laptop}" --time-budget none --quiet \
    --eval-every 0 --out "runs/search/$(echo "$note" | tr ' /=,:' '_____')" \
    --log-to "$LOG" --note "$note" "$@"
}

# $preset (laptop by default) against itself with FLAGS, side by side, a thread each,
# MINUTES each on the validation split: side_by_side MINUTES SEED WHAT FLAGS...
# The baseline's note names WHAT too, so that its out dir is the pair's own: the
# trainer refuses a dir that holds another run.
side_by_side() {
  minutes=$1 seed=$2 what=$3
  shift 3
  pair="--val-split 5000 --threads 1 --time-budget $((minutes * 60)) --seed $seed"
  name="$minutes min, val, a thread: ${preset:-laptop} preset"
  run "$name, against $what, seed $seed" $pair &
  run "$name, $what, seed $seed" $pair "$@"
  wait
}

# A time-budget run, recorded and shipped: timed PRESET RESULT CHECKPOINT NOTE
timed() {
  uptime
  $PY -m vit_core.train --preset "$1" --quiet --out "runs/$1" --log-to "$LOG" \
    --note "$4"
  $PY -m vit_core.records "runs/$1" "$2"
  $PY -m vit_core.ship "runs/$1" --name "$3"
}

stage=${1:-1}
case "$stage" in
1)  # ran with the preset's first values (AdamW, batch 128, lr 2e-3)
  first="--optimizer adamw --batch-size 128 --lr 2e-3 --epochs 1"
  run "1 epoch: laptop default (conv stem 32,64; 4x128; mlp 2)" $first
  run "1 epoch: lighter conv stem 16,32" $first --stem-channels 16,32
  run "1 epoch: plain ViT (patch 4, no conv stem), same size" $first \
    --model vit_laptop_plain
  run "1 epoch: lr 3e-3" $first --lr 3e-3
  run "1 epoch: batch 64, lr 1.4e-3" --optimizer adamw --epochs 1 --batch-size 64 \
    --lr 1.4e-3
  run "1 epoch: depth 6, stem 16,32" $first --depth 6 --stem-channels 16,32
  run "1 epoch: no label smoothing" $first --label-smoothing 0
  ;;
muon)  # two at a time, a thread each, at the lr the preset had then
  two="--epochs 2 --val-split 5000 --threads 1 --lr 1.4e-3"
  run "2 epochs, val: plain CLS ViT, adamw" $two --model vit_laptop_cls \
    --optimizer adamw &
  run "2 epochs, val: plain CLS ViT, muon" $two --model vit_laptop_cls \
    --optimizer muon
  wait
  run "2 epochs, val: vit_laptop, adamw" $two --optimizer adamw &
  run "2 epochs, val: vit_laptop, muon" $two --optimizer muon
  wait
  run "2 epochs, val: plain CLS ViT, muon, lr 2.8e-3" $two --model vit_laptop_cls \
    --optimizer muon --lr 2.8e-3
  ;;
hour-lr)  # two at a time, a thread each
  two="--epochs 2 --val-split 5000 --threads 1 --optimizer muon"
  run "2 epochs, val: vit_laptop, muon, lr 2.8e-3" $two --lr 2.8e-3 &
  run "2 epochs, val: vit_laptop, muon, lr 4.2e-3" $two --lr 4.2e-3
  wait
  ;;
patch-drop)  # two at a time, a thread each. Dropping half the patches for the first
  # 75% of a run doubles the step speed (patch-bench), so these 3 epochs cost about
  # as much time as the 2 epochs of the muon and hour-lr stages they are compared with.
  drop="--epochs 3 --val-split 5000 --threads 1 --optimizer muon --lr 2.8e-3
    --patch-drop 0.5 --patch-drop-until 0.75"
  run "3 epochs, val: plain CLS ViT, patch drop 0.5 until 0.75" $drop \
    --model vit_laptop_cls &
  run "3 epochs, val: vit_laptop, patch drop 0.5 until 0.75" $drop
  wait
  ;;
patch-drop-seed)  # the plain ViT's pair again with another seed, side by side: the
  # same machine at the same time, so their minutes compare
  two="--val-split 5000 --threads 1 --optimizer muon --lr 2.8e-3 --seed 1"
  run "2 epochs, val: plain CLS ViT, muon, lr 2.8e-3, seed 1" $two --epochs 2 \
    --model vit_laptop_cls &
  run "3 epochs, val: plain CLS ViT, patch drop 0.5 until 0.75, seed 1" $two \
    --epochs 3 --patch-drop 0.5 --patch-drop-until 0.75 --model vit_laptop_cls
  wait
  ;;
patch-drop-more)  # two at a time, a thread each. Three quarters of the patches dropped
  # for the first 75% of 4 epochs cost about the compute of the patch-drop stage's 3
  # epochs at a half (step-bench), which they are compared with, seed for seed
  more="--epochs 4 --val-split 5000 --threads 1 --optimizer muon --lr 2.8e-3
    --patch-drop 0.75 --patch-drop-until 0.75 --model vit_laptop_cls"
  run "4 epochs, val: plain CLS ViT, patch drop 0.75 until 0.75" $more &
  run "4 epochs, val: plain CLS ViT, patch drop 0.75 until 0.75, seed 1" $more \
    --seed 1
  wait
  ;;
batch-128)  # side by side, a thread each, 15 minutes each on the validation split: the
  # laptop preset at batch 64 against 128, whose steps spend a smaller share in Muon
  # (step-bench). The pair runs alone on the machine, at the same time, so their
  # minutes compare. SEED: 0, or the second argument. Seeds 0 and 1 ran when the
  # preset had batch 64; it has 128 since, so the flag moved to the other side
  seed=${2:-0}
  pair="--val-split 5000 --threads 1 --time-budget 900 --seed $seed"
  at=$([ "$seed" = 0 ] || echo ", seed $seed")
  run "15 min, val, a thread: laptop preset, batch 64$at" $pair --batch-size 64 &
  run "15 min, val, a thread: laptop preset, batch 128$at" $pair
  wait
  ;;
pair)  # side by side, a thread each, 15 minutes each on the validation split: the
  # laptop preset against the preset with FLAGS, at SEED; alone on the machine, so
  # their minutes compare: scripts/cpu_search.sh pair SEED WHAT FLAGS...
  side_by_side 15 "${2:?usage: pair SEED WHAT FLAGS...}" "${3:?usage: pair SEED WHAT}" \
    "${@:4}"
  ;;
hour-pair)  # the same for the hour: laptop-hour against laptop-hour with FLAGS, 60
  # minutes each: scripts/cpu_search.sh hour-pair SEED WHAT FLAGS...
  preset=laptop-hour
  side_by_side 60 "${2:?usage: hour-pair SEED WHAT FLAGS...}" \
    "${3:?usage: hour-pair SEED WHAT}" "${@:4}"
  ;;
hour-seeds)  # side by side, a thread each, 60 minutes each on the validation split:
  # laptop-hour with FLAGS at seeds 0 and 1. Each is compared with the preset's runs of
  # its seed in the hour pairs, which ran the same way: two seeds in one hour
  what=${2:?usage: hour-seeds WHAT FLAGS...}
  hour="--val-split 5000 --threads 1 --time-budget 3600"
  preset=laptop-hour
  name="60 min, val, a thread: laptop-hour preset, $what"
  run "$name, seed 0" $hour --seed 0 "${@:3}" &
  run "$name, seed 1" $hour --seed 1 "${@:3}"
  wait
  ;;
precision-bench)
  $PY -m vit_core.bench precision --model vit_laptop --batch-size 64 --threads 2 \
    --out vit_core/results/bench_precision_vit_laptop.json
  ;;
compile-bench)
  $PY -m vit_core.bench compile --model vit_laptop --batch-size 64 --threads 2 \
    --out vit_core/results/bench_compile_vit_laptop.json
  ;;
patch-bench)
  for model in vit_laptop_cls vit_laptop; do
    $PY -m vit_core.bench patch-drop --model "$model" --batch-size 64 --threads 2 \
      --out "vit_core/results/bench_patch_drop_$model.json"
  done
  ;;
step-bench)
  $PY -m vit_core.bench step --model vit_laptop_cls --batch-size 64 --threads 2 \
    --out vit_core/results/bench_step_vit_laptop_cls.json
  $PY -m vit_core.bench muon --model vit_laptop_cls --threads 2 --steps 20 \
    --rounds 15 --out vit_core/results/bench_muon_vit_laptop_cls.json
  ;;
plain-hour)
  timed plain-hour cpu_plain_hour.json vit_laptop_cls \
    "60 min: plain-hour preset (vit_laptop_cls, Muon)"
  ;;
plain-hour-seed)  # alone: the preset's spread over seeds; logged, not shipped
  uptime
  $PY -m vit_core.train --preset plain-hour --seed 1 --quiet \
    --out runs/plain-hour-seed1 --log-to "$LOG" \
    --note "60 min: plain-hour preset, seed 1 (vit_laptop_cls, Muon)"
  ;;
hour)
  timed laptop-hour cpu_hour.json vit_laptop_hour \
    "60 min: laptop-hour preset (vit_laptop, Muon)"
  ;;
hour-patch-drop)  # alone: the laptop-hour preset with patch dropout, which beat it
  # by 1.34 points on the validation split after 3 epochs (patch-drop stage). It beat
  # the hour without (cpu_hour.json then), so it was recorded and shipped by hand
  # (vit_core.records, vit_core.ship), and the presets took patch dropout on
  uptime
  $PY -m vit_core.train --preset laptop-hour --patch-drop 0.5 --patch-drop-until 0.75 \
    --quiet --out runs/laptop-hour-patch-drop --log-to "$LOG" \
    --note "60 min: laptop-hour preset, patch drop 0.5 until 0.75 (vit_laptop, Muon)"
  ;;
laptop-patch-drop)  # alone: the laptop preset with patch dropout as flags, before the
  # preset had it; logged, not shipped
  uptime
  $PY -m vit_core.train --preset laptop --patch-drop 0.5 --patch-drop-until 0.75 \
    --quiet --out runs/laptop-patch-drop --log-to "$LOG" \
    --note "15 min: laptop preset, patch drop 0.5 until 0.75 (vit_laptop, Muon)"
  ;;
laptop-seed)  # alone: the preset's spread over seeds (SEED: 1, or the second argument)
  seed=${2:-1}
  uptime
  $PY -m vit_core.train --preset laptop --seed "$seed" --quiet \
    --out "runs/laptop-seed$seed" --log-to "$LOG" \
    --note "15 min: laptop preset, seed $seed (vit_laptop, Muon)"
  ;;
laptop)
  timed laptop cpu_laptop.json vit_laptop "15 min: laptop preset (vit_laptop, Muon)"
  ;;
*)
  echo "unknown stage $stage (see the list at the top)" >&2
  exit 2
  ;;
esac
