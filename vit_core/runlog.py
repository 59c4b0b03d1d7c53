"""What a training run writes for people: the progress bar and a line per epoch,
``metrics.jsonl``, the checkpoint's card, ``summary.json`` and the one-line ``--log-to``
record."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

from .checkpoint import atomic_write_json
from .data import describe_data
from .model import count_params
from .registry import model_config
from .runinfo import environment


def load_average() -> float | None:
    """How busy the machine is: other work on the cores lowers img/s and time-budget
    accuracy."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def accuracies(results: dict) -> dict:
    """{split: {weights: result}} -> {'test_accuracy': ..., 'test_accuracy_raw': ...}:
    the unsuffixed number is the saved weights' (EMA when on), ``_raw`` the raw
    weights' and ``_flip`` the saved weights' with test-time flip averaging."""
    out = {}
    for split, by_weights in results.items():
        saved = "ema" if "ema" in by_weights else "raw"
        out[f"{split}_accuracy"] = by_weights[saved]["accuracy"]
        if saved == "ema":
            out[f"{split}_accuracy_raw"] = by_weights["raw"]["accuracy"]
        if "flip" in by_weights:
            out[f"{split}_accuracy_flip"] = by_weights["flip"]["accuracy"]
    return out


class RunLog:
    def __init__(self, cfg, session, model, run, teacher=None):
        self.cfg, self.session, self.run, self.teacher = cfg, session, run, teacher
        self.env = environment(session.device)
        config = (
            model.cfg.to_dict() if hasattr(model, "cfg") else model_config(cfg.model)
        )
        self.base = {
            "model": cfg.model,
            "config": config,
            "recipe": cfg.recipe(),
            "data": describe_data(cfg.data_dir),
            "hardware": self.env["device"],
            "command": run.command,
            "commit": self.env["commit"],
            "params": count_params(model),
            "weights": "ema" if cfg.ema else "raw",
        } | ({"teacher": teacher.record} if teacher else {})
        self.rows, self.first_step_s, self.bar = [], None, None
        self.load_at_start, self.started = load_average(), time.perf_counter()
        self.seconds_before, self.teacher_before = run.train_seconds, 0.0
        if session.main:
            self.say(
                f"{cfg.model}: {self.base['params']:,} parameters | device "
                f"{self.env['device']} | {session.world} process(es) | out {run.out}"
            )

    def say(self, text: str) -> None:
        print(text, file=sys.stderr)

    def progress(self, loader, epoch: int):
        self.epoch_started = time.perf_counter()
        self.bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
            leave=False,
            disable=not self.session.main or self.cfg.quiet,
            dynamic_ncols=True,
            mininterval=1.0,
        )
        return self.bar

    def step(self, loss, lr: float, done: int) -> None:
        if self.first_step_s is None:  # includes compilation with --compile
            self.first_step_s = time.perf_counter() - self.epoch_started
        if not self.bar.disable and done % 20 == 1:
            rate = (
                done * self.cfg.batch_size / (time.perf_counter() - self.epoch_started)
            )
            self.bar.set_postfix(
                loss=f"{loss.item():.3f}",
                lr=f"{lr:.2e}",
                img_s=f"{rate:,.0f}",
                refresh=False,
            )

    def epoch(self, losses: list, lr: float | None, results: dict) -> None:
        self.bar.close()
        if not self.session.main:
            return
        run, seconds = self.run, self.run.train_seconds - self.seconds_before
        self.seconds_before = run.train_seconds
        row = {
            "epoch": round(run.epoch, 4),
            "step": run.step,
            "train_loss": sum(v.item() for v in losses) / max(len(losses), 1),
            "lr": lr,
            "epoch_seconds": round(seconds, 3),
            "train_seconds": round(run.train_seconds, 3),
            "img_per_s": round(
                len(losses) * self.cfg.batch_size / max(seconds, 1e-9), 1
            ),
            **accuracies(results),
        }
        if self.teacher:  # its forward passes, inside epoch_seconds
            row["teacher_seconds"] = round(
                self.teacher.seconds - self.teacher_before, 3
            )
            self.teacher_before = self.teacher.seconds
        self.rows.append(row)
        with open(run.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        shown = " | ".join(
            f"{k.replace('_', ' ')} {v * 100:.2f}%"
            for k, v in accuracies(results).items()
        )
        self.say(
            f"epoch {row['epoch']:g}: loss {row['train_loss']:.4f} | "
            f"{row['img_per_s']:,.0f} img/s | {run.train_seconds:.1f}s trained"
            + (f" | {shown}" if shown else "")
        )

    def card(self, results: dict) -> dict:
        return (
            self.base
            | {
                "epoch": round(self.run.epoch, 4),
                "train_seconds": round(self.run.train_seconds, 2),
                "test_accuracy": None,
            }
            | accuracies(results)
        )

    def finish(self, results: dict) -> dict | None:
        if not self.session.main:
            return None
        test = results["test"]["ema" if self.cfg.ema else "raw"]
        seconds = sum(r["epoch_seconds"] for r in self.rows)
        summary = {
            **self.card(results),
            "per_class_accuracy": test["per_class_accuracy"],
            "confusion": test["confusion"],
            "epochs": round(self.run.epoch, 4),
            "steps": self.run.step,
            "stopped_by": self.run.stopped_by,
            "wall_seconds": round(time.perf_counter() - self.started, 2),
            "first_step_seconds": round(self.first_step_s, 3)
            if self.first_step_s
            else None,
            "img_per_s": round(
                sum(r["img_per_s"] * r["epoch_seconds"] for r in self.rows)
                / max(seconds, 1e-9),
                1,
            ),
            **(self.teacher_share(seconds) if self.teacher else {}),
            "time_budget_seconds": self.cfg.time_budget,
            "compiled": self.cfg.compile,
            "processes": self.session.world,
            "load_avg_start": self.load_at_start,
            "load_avg_end": load_average(),
            "invocation": self.cfg.command(),
            "out": str(self.run.out),
            **self.env,
        }
        atomic_write_json(self.run.out / "summary.json", summary)
        if self.cfg.log_to:
            self.log_experiment(summary)
        self.say(
            f"done: test accuracy {summary['test_accuracy'] * 100:.2f}% after "
            f"{summary['epochs']:g} epochs, {summary['train_seconds']:.1f}s of "
            f"training; results in {self.run.out}"
        )
        return summary

    def teacher_share(self, seconds: float) -> dict:
        """The teacher's seconds in this invocation's training, and their share."""
        return {
            "teacher_seconds": round(self.teacher.seconds, 2),
            "teacher_share": round(self.teacher.seconds / max(seconds, 1e-9), 4),
        }

    def log_experiment(self, summary: dict) -> None:
        """One line per run: enough to compare recipes without opening run folders.
        Recipes are selected on ``val_accuracy`` (``recipe.val_split`` images held out
        of training)."""
        keep = (
            "model",
            "params",
            "val_accuracy",
            "test_accuracy",
            "val_accuracy_flip",
            "test_accuracy_flip",
            "epochs",
            "train_seconds",
            "img_per_s",
            "stopped_by",
            "device",
            "torch",
            "commit",
            "command",
            "compiled",
            "data",
            "recipe",
            "config",
            "load_avg_start",
            "load_avg_end",
        )
        record = {
            "note": self.cfg.note,
            **{k: summary.get(k) for k in keep},
            "train_minutes": round(summary["train_seconds"] / 60, 2),
        }
        Path(self.cfg.log_to).parent.mkdir(parents=True, exist_ok=True)
        with open(self.cfg.log_to, "a") as f:
            f.write(json.dumps(record) + "\n")
