"""The seed's experiments, measured where every reader can repeat them (a 2-core CPU).

    python scripts/experiments.py sweep             # each optimizer's learning rate
    python scripts/experiments.py ladder            # the ablation ladder, every rung
    python scripts/experiments.py ladder --rung 3   # one rung: one group of a class
    python scripts/experiments.py ladder --epochs 30 --rungs 4 7 --seeds 0

Each run trains with ``vit_core.train`` on 45,000 training images, selects nothing on
the test set (``--val-split 5000``), and appends one record to
``results/cpu_ablation.json`` (written atomically). A run already recorded is skipped,
so an interrupted experiment continues where it stopped. ``--device cuda --epoch-scale
33`` runs the same rungs at the seed's length on a GPU, into another file (``--out``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from vit_core.checkpoint import atomic_write_json
from vit_core.config import TrainConfig, make_config, resume_config
from vit_core.data import describe_data
from vit_core.train import train

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES, VAL_SPLIT = 50_000, 5_000
# Rung 1: the seed's baseline. Each later rung adds one trick to the one before.
BASE = dict(
    model="vit_laptop_plain",
    batch_size=64,
    val_split=VAL_SPLIT,
    eval_every=0,
    optimizer="sgd",
    schedule="constant",
    warmup_epochs=0.0,
    weight_decay=5e-4,
    label_smoothing=0.0,
    mixup_alpha=0.0,
    cutmix_alpha=0.0,
    drop_path=0.0,
    autoaugment="none",
    quiet=True,
)
RUNGS = [
    ("SGD + constant lr", {}),
    ("+ AdamW", {"optimizer": "adamw", "weight_decay": 0.05}),
    ("+ warmup/cosine", {"schedule": "cosine", "warmup_epochs": 0.25}),
    ("+ label smoothing", {"label_smoothing": 0.1}),
    ("+ mixup/CutMix", {"mixup_alpha": 0.8, "cutmix_alpha": 1.0}),
    ("+ drop-path", {"drop_path": 0.1}),
    ("+ AutoAugment", {"autoaugment": "autoaugment"}),
]
SWEEP = {"sgd": (0.01, 0.03, 0.1), "adamw": (5e-4, 1e-3, 2e-3)}
SWEEP_EPOCHS = 1


def rung_config(
    rung: int, lrs: dict, epochs: int, seed: int, device: str
) -> TrainConfig:
    values = dict(BASE)
    for _, change in RUNGS[:rung]:
        values |= change
    return make_config(
        **values, lr=lrs[values["optimizer"]], epochs=epochs, seed=seed, device=device
    )


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def best_lrs(records: list[dict]) -> dict:
    """Each optimizer's learning rate with the best validation accuracy in the sweep."""
    best = {}
    for opt in SWEEP:
        runs = [r for r in records if r["kind"] == "sweep" and r["optimizer"] == opt]
        if len(runs) < len(SWEEP[opt]):
            raise SystemExit(f"the {opt} sweep is incomplete: run `sweep` first")
        best[opt] = max(runs, key=lambda r: r["val_accuracy"])["lr"]
    return best


def run_and_record(path: Path, key: dict, cfg: TrainConfig, out: Path) -> None:
    """Train ``cfg`` and append its record (``key`` says what the run varies). A run
    that was killed continues from its last checkpoint."""
    resumable = (out / "train_state.pt").exists()
    summary = train(resume_config(out) if resumable else replace(cfg, out=str(out)))
    record = {
        **key,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "lr": cfg.lr,
        "optimizer": cfg.optimizer,
        "model": cfg.model,
        "params": summary["params"],
        "test_accuracy": summary["test_accuracy"],
        "val_accuracy": summary["val_accuracy"],
        **{
            k: summary[k]
            for k in (
                "train_seconds",
                "img_per_s",
                "load_avg_start",
                "load_avg_end",
                "command",
                "commit",
                "device",
                "torch",
                "data",
                "recipe",
            )
        },
    }
    atomic_write_json(path, load(path) + [record])


def plan(path: Path, todo: list[tuple[dict, TrainConfig]], img_per_s: float) -> None:
    seconds = sum(
        cfg.epochs * (TRAIN_IMAGES - VAL_SPLIT) / img_per_s for _, cfg in todo
    )
    print(
        f"{len(todo)} run(s) to do, about {seconds / 60:.0f} min at {img_per_s:.0f} "
        f"img/s on {describe_data()}; records go to {path}",
        flush=True,
    )
    for key, cfg in todo:
        print(f"  {key} epochs={cfg.epochs} seed={cfg.seed} lr={cfg.lr:g}", flush=True)


def measured_speed(records: list[dict], default: float) -> float:
    rates = [r["img_per_s"] for r in records]
    return statistics.median(rates) if rates else default


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=["sweep", "ladder"])
    p.add_argument(
        "--rungs", type=int, nargs="+", default=list(range(1, len(RUNGS) + 1))
    )
    p.add_argument("--rung", type=int, help="just this rung (for one group of a class)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--seed", type=int, help="just this seed")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument(
        "--epoch-scale", type=float, default=1.0, help="multiply every length"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(ROOT / "results" / "cpu_ablation.json"))
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = p.parse_args(argv)
    path, runs = Path(args.out), ROOT / "runs" / "experiments"
    records = load(path)
    scale = lambda e: max(1, round(e * args.epoch_scale))  # noqa: E731
    if args.experiment == "sweep":
        todo = [
            (
                {"kind": "sweep", "rung": 2 if opt == "adamw" else 1},
                rung_config(
                    2 if opt == "adamw" else 1,
                    {opt: lr},
                    scale(SWEEP_EPOCHS),
                    0,
                    args.device,
                ),
            )
            for opt, lrs in SWEEP.items()
            for lr in lrs
        ]
    else:
        lrs = best_lrs(records)
        rungs = [args.rung] if args.rung else args.rungs
        seeds = [args.seed] if args.seed is not None else args.seeds
        todo = [
            (
                {"kind": "ladder", "rung": r, "rung_name": RUNGS[r - 1][0]},
                rung_config(r, lrs, scale(args.epochs), s, args.device),
            )
            for r in rungs
            for s in seeds
        ]
    done = {(r["kind"], r["rung"], r["epochs"], r["seed"], r["lr"]) for r in records}
    todo = [
        (k, c)
        for k, c in todo
        if (k["kind"], k["rung"], c.epochs, c.seed, c.lr) not in done
    ]
    plan(path, todo, measured_speed(records, default=600.0))
    if args.dry_run:
        return
    for key, cfg in todo:
        name = f"{key['kind']}-r{key['rung']}-e{cfg.epochs}-s{cfg.seed}-lr{cfg.lr:g}"
        t0 = time.perf_counter()
        run_and_record(path, key, cfg, runs / name)
        print(f"{name}: {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
