"""The original project's experiments, measured where every reader can repeat them
(a 2-core CPU).

    python scripts/experiments.py sweep             # each optimizer's learning rate
    python scripts/experiments.py ladder            # the ablation ladder, every rung
    python scripts/experiments.py ladder --rung 3   # one rung: one group of a class
    python scripts/experiments.py ladder --epochs 30 --rungs 4 7 --seed 0 --eval-every 1
    python scripts/experiments.py models             # 15 minutes each, alone
    python scripts/experiments.py models --epochs 3 --models vit_tiny resnet18
    python scripts/experiments.py distill --epochs 5 --teacher airnet_teacher
    python scripts/experiments.py distill --budget 450 --teacher airnet_teacher
    python scripts/experiments.py distill --epochs 5 --teacher airnet_teacher \
        --teacher-cache

Each run trains with ``vit_core.train`` on 45,000 training images, selects nothing on
the test set (``--val-split 5000``), and appends one record to
``vit_core/results/cpu_ablation.json`` (sweep, ladder), ``cpu_models.json`` or
``cpu_distill.json`` (written atomically). A run already recorded is
skipped, so an interrupted experiment continues where it stopped. ``--device cuda
--epoch-scale 33`` runs the same rungs at the original project's length on a GPU,
into another file (``--out``).

A time-budget run (``models`` without ``--epochs``, ``distill --budget``) measures
what the machine gives in that time, so it waits until the load average is below
``--max-load`` and refuses to start beside other work.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from vit_core.checkpoint import atomic_write_json
from vit_core.config import TrainConfig, make_config, resume_config
from vit_core.course.ladder import chosen_lrs
from vit_core.data import describe_data
from vit_core.records import RESULTS_DIR
from vit_core.registry import create_model, flops_per_image
from vit_core.train import train

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = 50_000
# Rung 1: the original project's baseline. Each later rung adds one trick to the one
# before.
BASE = dict(
    model="vit_laptop_plain",
    batch_size=64,
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
# Every model gets the laptop preset's recipe with AdamW and whole images, as when these
# runs were made: warmup/cosine, label smoothing, no mixup/CutMix/AutoAugment. (The
# preset now trains a ViT's blocks with Muon and drops patches, which a ResNet has
# neither of; AdamW and every token keep the models comparable.)
MODELS = (
    "vit_laptop",
    "vit_laptop_plain",
    "vit_tiny",
    "vit_small",
    "resnet18",
    "resnet8",
)
# Distillation's student: the plain CLS ViT of notebooks 1-4, at its hour's recipe.
STUDENT = "vit_laptop_cls"
# SGD's 0.3 was added when 0.1, the largest of the first three, won: a rate at the edge
# of a sweep may not be the best one.
SWEEP = {"sgd": (0.01, 0.03, 0.1, 0.3), "adamw": (5e-4, 1e-3, 2e-3)}
SWEEP_EPOCHS = 1


def rung_config(rung: int, lrs: dict, epochs: int, seed: int, args) -> TrainConfig:
    values = dict(BASE)
    for _, change in RUNGS[:rung]:
        values |= change
    return make_config(
        **values,
        lr=lrs[values["optimizer"]],
        epochs=epochs,
        seed=seed,
        **common(args),
    )


def common(args) -> dict:
    """What every run of one invocation shares."""
    return dict(
        device=args.device,
        val_split=args.val_split,
        data_dir=args.data_dir,
        eval_every=args.eval_every,
    )


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def run_name(r: dict) -> str:
    """A run's name, the same from its plan and from its record: a run whose name is
    recorded is done."""
    if r["kind"] == "models":
        length = f"t{r['budget']:g}" if r["budget"] else f"e{r['epochs']}"
        return f"models-{r['model']}-{length}-s{r['seed']}"
    if r["kind"] == "distill":
        taught = f"{Path(r['teacher']).stem}-{r['distill']}" if r["teacher"] else "none"
        taught += "-cache" if r.get("teacher_cache") else ""
        length = f"t{r['budget']:g}" if r["budget"] else f"e{r['epochs']}"
        return f"distill-{taught}-{length}-s{r['seed']}"
    return f"{r['kind']}-r{r['rung']}-e{r['epochs']}-s{r['seed']}-lr{r['lr']:g}"


def identity(key: dict, cfg: TrainConfig) -> dict:
    return {
        **key,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
        "lr": cfg.lr,
        "model": cfg.model,
        "budget": cfg.time_budget,
    }


def best_lrs(records: list[dict]) -> dict:
    """Each optimizer's learning rate with the best validation accuracy in the sweep."""
    for opt, lrs in SWEEP.items():
        tried = {
            r["lr"] for r in records if r["kind"] == "sweep" and r["optimizer"] == opt
        }
        if not set(lrs) <= tried:
            raise SystemExit(f"the {opt} sweep is incomplete: run `sweep` first")
    return chosen_lrs(records)


def curve(metrics: Path) -> list[dict]:
    """Per epoch: the training loss and, where the run evaluated, the accuracies; the
    book draws learning curves from these, since run folders are not committed."""
    keep = ("epoch", "train_seconds", "train_loss", "val_accuracy", "test_accuracy")
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    return [{k: r[k] for k in keep if k in r} for r in rows]


def wait_until_quiet(max_load: float, patience: float) -> None:
    """A time-budget result depends on what else the cores do: wait for the load
    average to fall below ``max_load``, or refuse."""
    waited = 0.0
    while os.getloadavg()[0] >= max_load:
        if waited >= patience:
            raise SystemExit(
                f"load average {os.getloadavg()[0]:.2f} is not below {max_load} "
                f"after {waited:.0f}s: a time-budget run must have the machine to "
                "itself; stop the other work and run again"
            )
        time.sleep(10)
        waited += 10


def run_and_record(path: Path, key: dict, cfg: TrainConfig, out: Path) -> None:
    """Train ``cfg`` and append its record (``key`` says what the run varies). A run
    that was killed continues from its last checkpoint."""
    resumable = (out / "train_state.pt").exists()
    summary = train(resume_config(out) if resumable else replace(cfg, out=str(out)))
    record = {
        **identity(key, cfg),
        "optimizer": cfg.optimizer,
        "params": summary["params"],
        "flops_per_image": flops_per_image(create_model(cfg.model)),
        "epochs_run": summary["epochs"],
        "test_accuracy": summary["test_accuracy"],
        "val_accuracy": summary["val_accuracy"],
        "curve": curve(out / "metrics.jsonl"),
        **teacher_cost(summary),
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


def teacher_cost(summary: dict) -> dict:
    """The teacher's seconds, their share of the training time, and its milliseconds
    per training image (the images the student saw, at the student's speed)."""
    if "teacher_seconds" not in summary:
        return {}
    images = summary["img_per_s"] * summary["train_seconds"]
    return {
        "teacher_seconds": summary["teacher_seconds"],
        "teacher_share": summary["teacher_share"],
        "teacher_ms_per_image": round(1000 * summary["teacher_seconds"] / images, 4),
    }


def expected_seconds(cfg: TrainConfig, records: list[dict], val_split: int) -> float:
    """The budget, or the epochs at the speed this model was measured at here (or at
    600 img/s scaled by compute per image, before any record)."""
    if cfg.time_budget:
        return cfg.time_budget
    rates = [r["img_per_s"] for r in records if r["model"] == cfg.model]
    if rates:
        speed = statistics.median(rates)
    else:
        reference = flops_per_image(create_model("vit_laptop_plain"))
        speed = 600 * reference / flops_per_image(create_model(cfg.model))
    return cfg.epochs * (TRAIN_IMAGES - val_split) / speed


def plan(path: Path, todo: list, records: list[dict], val_split: int) -> None:
    seconds = sum(expected_seconds(cfg, records, val_split) for _, cfg in todo)
    print(
        f"{len(todo)} run(s) to do, about {seconds / 60:.0f} min on "
        f"{describe_data()}; records go to {path}",
        flush=True,
    )
    for key, cfg in todo:
        print(f"  {run_name(identity(key, cfg))}", flush=True)


def sweep_plan(args) -> list:
    return [
        (
            {"kind": "sweep", "rung": rung},
            rung_config(rung, {opt: lr}, scale(args, SWEEP_EPOCHS), 0, args),
        )
        for opt, rung in (("sgd", 1), ("adamw", 2))
        for lr in SWEEP[opt]
    ]


def ladder_plan(args, records: list[dict]) -> list:
    lrs = best_lrs(records)
    return [
        (
            {"kind": "ladder", "rung": r, "rung_name": RUNGS[r - 1][0]},
            rung_config(r, lrs, scale(args, args.epochs), s, args),
        )
        for r in ([args.rung] if args.rung else args.rungs)
        for s in ([args.seed] if args.seed is not None else args.seeds)
    ]


def models_plan(args) -> list:
    """Equal wall time (the laptop preset's 15 minutes), or equal epochs."""
    length = run_length(args)
    return [
        (
            {"kind": "models"},
            make_config(
                "laptop",
                model=m,
                seed=s,
                optimizer="adamw",
                patch_drop=0.0,
                **length,
                **common(args),
            ),
        )
        for m in args.models
        for s in ([args.seed] if args.seed is not None else args.seeds)
    ]


def run_length(args) -> dict:
    """Equal epochs (``--epochs``), or else equal wall time (``--budget``)."""
    if args.epochs:
        return {"epochs": scale(args, args.epochs), "time_budget": None}
    return {"time_budget": args.budget}


def distill_plan(args) -> list:
    """Equal epochs or equal wall time, on the same seeds: without a teacher, and
    with ``--teacher``'s labels (``--distill``; hard through a distillation token,
    DeiT's best). At equal time the teacher's forward passes count inside the
    student's budget, as does the one pass of ``--teacher-cache``."""
    taught = dict(teacher=args.teacher, distill=args.distill)
    taught |= {"teacher_cache": True} if args.teacher_cache else {}
    arms = [({"teacher": None, "distill": None}, {}), (taught, taught)]
    return [
        (
            {"kind": "distill", **key},
            make_config(
                "plain-hour",
                model=STUDENT,
                **run_length(args),
                seed=s,
                quiet=True,
                distilled=bool(change) and args.distill == "hard",
                **change,
                **common(args),
            ),
        )
        for key, change in arms
        for s in ([args.seed] if args.seed is not None else args.seeds)
    ]


def scale(args, epochs: int) -> int:
    return max(1, round(epochs * args.epoch_scale))


def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment", choices=["sweep", "ladder", "models", "distill"])
    p.add_argument(
        "--rungs", type=int, nargs="+", default=list(range(1, len(RUNGS) + 1))
    )
    p.add_argument("--rung", type=int, help="just this rung (for one group of a class)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--seeds", type=int, nargs="+", help="default: 0 1 (models: 0)")
    p.add_argument("--seed", type=int, help="just this seed")
    p.add_argument(
        "--epochs", type=int, help="default: 3 (ladder); models: a time budget"
    )
    p.add_argument(
        "--budget", type=float, help="seconds: models (default 900), distill"
    )
    p.add_argument("--teacher", help="distill: a checkpoint or a shipped name")
    p.add_argument("--distill", choices=["hard", "soft"], default="hard")
    p.add_argument(
        "--teacher-cache",
        action="store_true",
        help="distill: the teacher's logits of the clean images, computed once",
    )
    p.add_argument(
        "--epoch-scale", type=float, default=1.0, help="multiply every length"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--eval-every",
        type=int,
        default=0,
        help="validate every N epochs, for learning curves (0: only at the end)",
    )
    p.add_argument("--val-split", type=int, default=5000)
    p.add_argument("--data-dir", help="default: $VIT_CORE_DATA")
    p.add_argument("--max-load", type=float, default=0.5, help="for time budgets")
    p.add_argument("--patience", type=float, default=900.0, help="seconds to wait")
    p.add_argument(
        "--out",
        help="default: vit_core/results/cpu_ablation.json, cpu_models.json or "
        "cpu_distill.json",
    )
    p.add_argument("--runs", default=str(ROOT / "runs" / "experiments"))
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = p.parse_args(argv)
    models = args.experiment == "models"
    args.seeds = args.seeds or ([0] if models else [0, 1])
    if args.experiment == "ladder" and args.epochs is None:
        args.epochs = 3
    if args.experiment == "distill" and (
        args.teacher is None or (args.epochs is None) == (args.budget is None)
    ):
        p.error(
            "distill compares at equal epochs or equal time: give --teacher and "
            "one of --epochs N and --budget SECONDS"
        )
    if models and args.budget is None:
        args.budget = 900.0
    name = {"models": "cpu_models.json", "distill": "cpu_distill.json"}.get(
        args.experiment, "cpu_ablation.json"
    )
    args.out = Path(args.out or RESULTS_DIR / name)
    return args


def main(argv=None) -> None:
    args = parse(argv)
    records = load(args.out)
    todo = {
        "sweep": lambda: sweep_plan(args),
        "ladder": lambda: ladder_plan(args, records),
        "models": lambda: models_plan(args),
        "distill": lambda: distill_plan(args),
    }[args.experiment]()
    done = {run_name(r) for r in records}
    todo = [(k, c) for k, c in todo if run_name(identity(k, c)) not in done]
    plan(args.out, todo, records, args.val_split)
    if args.dry_run:
        return
    for key, cfg in todo:
        name = run_name(identity(key, cfg))
        if cfg.time_budget:
            wait_until_quiet(args.max_load, args.patience)
        t0 = time.perf_counter()
        run_and_record(args.out, key, cfg, Path(args.runs) / name)
        print(f"{name}: {time.perf_counter() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
