"""The command line of ``python -m vit_core.train``: one flag per ``TrainConfig`` field,
read into the same ``TrainConfig`` a Python caller builds (``vit_core.config``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import fields

from .config import (
    ARCH_FIELDS,
    CHOICES,
    DEBUG_TRAIN,
    PRESETS,
    TrainConfig,
    flag,
    make_config,
    resume_config,
)
from .registry import MODEL_NAMES
from .schedule import parse_duration


def readable(kind, nullable: bool):
    """An argparse type whose error names the problem; a nullable one also reads 'none'
    (to switch a preset's value off)."""

    def parse(text: str):
        if nullable and text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line, like every other input error (the usage is in --help)."""
        raise ValueError(f"{message} (see {self.prog} --help)")


def channels(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text.split(","))


HELP = {
    "model": f"one of: {', '.join(MODEL_NAMES)}",
    "batch_size": "global batch size",
    "lr": "peak learning rate",
    "min_lr": "learning rate at the end of the cosine",
    "grad_clip": "max gradient norm (0: off)",
    "time_budget": "train for at most this long (90s, 15m, 1.5h; none: by epochs only)",
    "autoaugment": "policy augmentation",
    "crop_padding": "pixels of zero padding for random crops (0: no crops)",
    "patch_drop": "share of patch tokens each training image drops (0: none)",
    "patch_drop_until": "progress of the run (0-1) after which no patch is dropped",
    "ema": "keep an exponential moving average of weights",
    "ema_warmup": "ramp the EMA's decay up from 0 over the first steps",
    "val_split": "hold out N training images to select recipes on (e.g. 5000)",
    "debug": f"{DEBUG_TRAIN} training images, 2 epochs: seconds on a CPU",
    "data_dir": "folder holding cifar-10-batches-py/ (default: $VIT_CORE_DATA)",
    "download": "download CIFAR-10 with torchvision if it is missing",
    "out": "run folder (default: runs/MODEL-TIME, or the --resume folder)",
    "resume": "a run folder to continue: its config.json gives every other flag",
    "stop_after": "stop after this many epochs of this call (continue with --resume)",
    "eval_every": "evaluate every N epochs (0: only at the end)",
    "device": "auto, cpu, cuda, cuda:1, mps",
    "threads": "CPU threads for this run",
    "compile": "torch.compile the model",
    "quiet": "no progress bar",
    "log_to": "append a one-line record of the run to this JSONL file",
    "note": "a note for the --log-to record",
    "distilled": "add DeiT's distillation token and its head (needs --pool cls)",
    "teacher": "a checkpoint whose predictions on each batch teach the student",
    "distill": "hard: learn the teacher's top class; soft: its probabilities",
    "distill_tau": "the temperature of --distill soft",
    "teacher_cache": "run the teacher once over the clean training images (its "
    "time counts) and look its logits up, instead of once per augmented batch",
}


def flag_type(f: dataclasses.Field):
    """The argparse type of a field, read from its annotation."""
    if f.name == "time_budget":
        return parse_duration
    for word, kind in (
        ("tuple", channels),
        ("bool", bool),
        ("float", float),
        ("int", int),
    ):
        if f.type.startswith(word):
            return kind
    return str


def build_parser() -> argparse.ArgumentParser:
    """One flag per TrainConfig field. An untyped flag leaves no attribute (SUPPRESS),
    so the parsed namespace holds exactly what was typed."""
    p = Parser(
        prog="python -m vit_core.train",
        description="Train a model on CIFAR-10.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a tested recipe; other flags override its values",
    )
    for f in fields(TrainConfig):
        if f.name == "argv":
            continue
        kind, name = flag_type(f), f"--{flag(f.name)}"
        default = getattr(TrainConfig(), f.name)
        shown = (
            "the model's own"
            if f.name in ARCH_FIELDS
            else "none"
            if default is None
            else default
        )
        text = f"{HELP.get(f.name, '')} (default: {shown})"
        if kind is bool:
            p.add_argument(
                name, action=argparse.BooleanOptionalAction, help=text.lstrip()
            )
        else:
            p.add_argument(
                name,
                type=readable(kind, nullable="None" in f.type),
                choices=CHOICES.get(f.name),
                help=text.lstrip(),
                metavar=None if f.name in CHOICES else f.name.upper(),
            )
    return p


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The command line -> TrainConfig. With --resume, the run folder's config is the
    base and a flag that changes its recipe is refused."""
    argv = list(sys.argv[1:] if argv is None else argv)
    given = vars(build_parser().parse_args(argv))
    preset = given.pop("preset", None)
    if given.get("resume"):
        if preset is not None:
            given["preset"] = preset  # named in the refusal below
        return resume_config(given.pop("resume"), **given, argv=tuple(argv))
    return make_config(preset, **given, argv=tuple(argv))
