"""A training run's configuration: ``TrainConfig`` and the presets.

``TrainConfig()`` is the default recipe, the only place its values are written down. A
preset is a ``TrainConfig`` too. The command line (``vit_core.cli``) and Python callers
build the same object, and a run folder keeps it as ``config.json``, so ``--resume
RUN`` needs no other flag.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .errors import CheckpointError
from .precision import PRECISIONS
from .registry import MODEL_NAMES, OTHER_MODELS
from .schedule import parse_duration

DEBUG_TRAIN, DEBUG_TEST = 512, 256  # images in a --debug run: seconds on a CPU
ARCH_FIELDS = (
    "patch_size",
    "pool",
    "pos_embed",
    "embed_dim",
    "depth",
    "num_heads",
    "mlp_ratio",
    "stem",
    "stem_channels",
    "distilled",
)
# Fields that say how to run, not what to train: they may change when a run is resumed.
RUN_FIELDS = (
    "data_dir",
    "download",
    "out",
    "resume",
    "stop_after",
    "eval_every",
    "device",
    "threads",
    "quiet",
    "log_to",
    "note",
    "compile",
)


CHOICES = {
    "optimizer": ("adamw", "sgd", "muon"),
    "schedule": ("cosine", "constant"),
    "autoaugment": ("none", "autoaugment", "randaugment"),
    "precision": PRECISIONS,
    "pool": ("cls", "avg"),
    "pos_embed": ("learned", "sincos"),
    "stem": ("patch", "conv"),
    "distill": ("hard", "soft"),
}


# field -> (whether a value is allowed, given the config; what an allowed value is)
BOUNDS = {
    "epochs": (lambda v, c: v >= 1, "at least 1"),
    "batch_size": (lambda v, c: v >= 1, "at least 1"),
    "lr": (lambda v, c: v > 0, "positive"),
    "min_lr": (lambda v, c: 0 <= v <= c.lr, "in [0, --lr]"),
    "warmup_epochs": (lambda v, c: v >= 0, ">= 0"),
    "patch_drop": (lambda v, c: 0 <= v < 1, "in [0, 1)"),
    "patch_drop_until": (lambda v, c: 0 <= v <= 1, "in [0, 1]"),
    "crop_padding": (lambda v, c: 0 <= v <= 16, "in [0, 16]"),
    "val_split": (lambda v, c: v >= 0, ">= 0"),
    "stop_after": (lambda v, c: v is None or v >= 1, "at least 1"),
    "distill_tau": (lambda v, c: v > 0, "positive"),
}


def check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def flag(name: str) -> str:
    return name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    # The default recipe follows the published evidence for plain ViTs on CIFAR-10:
    # DeiT's recipe as adapted by Lee et al. 2021 ("Vision Transformer for Small-Size
    # Datasets").
    model: str = "vit_tiny"
    patch_size: int | None = None  # None: the model's own value (vit_core.registry)
    pool: str | None = None
    pos_embed: str | None = None
    embed_dim: int | None = None
    depth: int | None = None
    num_heads: int | None = None
    mlp_ratio: float | None = None
    stem: str | None = None
    stem_channels: tuple[int, ...] | None = None
    distilled: bool | None = None
    # distillation (vit_core.distill): a trained model's predictions on each training
    # batch teach the student, DeiT's "hard" (its top class) or "soft" at a temperature
    teacher: str | None = None  # its checkpoint
    distill: str | None = None
    distill_tau: float = 3.0
    # the teacher's logits of the clean training images, computed once (its seconds
    # count in the run's time) and looked up per image, instead of a pass per batch
    teacher_cache: bool = False
    # optimization
    epochs: int = 100
    batch_size: int = 256  # global: split across processes
    lr: float = 1e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: float = 5.0
    optimizer: str = "adamw"
    schedule: str = "cosine"
    grad_clip: float = 1.0
    time_budget: float | None = (
        None  # seconds; the run ends at the epochs or the time, first
    )
    # regularization
    label_smoothing: float = 0.1
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    drop_path: float = 0.1
    dropout: float = 0.0
    # fewer tokens early: the share of patch tokens dropped (PatchDropout), until the
    # run's progress reaches patch_drop_until; after that every token is kept
    patch_drop: float = 0.0
    patch_drop_until: float = 1.0
    autoaugment: str = "autoaugment"
    crop_padding: int = 4  # random crops of the image zero-padded by this many pixels
    ema: bool = False
    ema_decay: float = 0.999
    # ramp the EMA's decay up from 0 (schedule.ema_decay_at), so that a run of a few
    # thousand steps does not keep its first, untrained steps in the average
    ema_warmup: bool = False
    # data and evaluation
    val_split: int = 0  # training images held out for model selection
    debug: bool = False  # DEBUG_TRAIN training and DEBUG_TEST test images
    seed: int = 0
    precision: str = "fp32"
    # how to run (RUN_FIELDS)
    data_dir: str | None = None
    download: bool = False
    out: str | None = None
    resume: str | None = None
    stop_after: int | None = None  # epochs of this invocation, then stop (resume later)
    eval_every: int = 1  # 0: only at the end
    device: str = "auto"
    threads: int | None = None
    compile: bool = False
    quiet: bool = False
    log_to: str | None = None
    note: str | None = None
    argv: tuple[str, ...] | None = field(
        default=None, compare=False
    )  # as typed, from the CLI

    def __post_init__(self):
        if isinstance(self.time_budget, str):
            object.__setattr__(self, "time_budget", parse_duration(self.time_budget))
        if self.stem_channels is not None:
            object.__setattr__(self, "stem_channels", tuple(self.stem_channels))
        check(
            self.model in MODEL_NAMES,
            f"unknown model {self.model!r}; choose one of {', '.join(MODEL_NAMES)}",
        )
        for name, (ok, what) in BOUNDS.items():
            value = getattr(self, name)
            check(ok(value, self), f"--{flag(name)} must be {what}, got {value}")
        for name in ("patch_drop", "distilled"):
            check(
                not getattr(self, name) or self.model not in OTHER_MODELS,
                f"--{flag(name)} needs a ViT; {self.model} has no tokens",
            )
        check(
            (self.teacher is None) == (self.distill is None),
            "--teacher CHECKPOINT and --distill hard|soft go together; "
            f"got --teacher {self.teacher} and --distill {self.distill}",
        )
        check(
            not self.teacher_cache or self.teacher is not None,
            "--teacher-cache caches a teacher's logits; give --teacher CHECKPOINT",
        )
        check(
            not self.teacher_cache or not (self.mixup_alpha or self.cutmix_alpha),
            "--teacher-cache holds the logits of the clean images, and mixup/CutMix "
            f"(--mixup-alpha {self.mixup_alpha}, --cutmix-alpha {self.cutmix_alpha}) "
            "show the student mixed ones: set both to 0, or drop --teacher-cache",
        )
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            check(
                value is None or value in allowed,
                f"--{flag(name)} must be one of {', '.join(allowed)}, got {value!r}",
            )

    def recipe(self) -> dict:
        """What decides the trained weights: every field but RUN_FIELDS."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.compare and f.name not in RUN_FIELDS
        }

    def model_overrides(self) -> dict:
        """Keyword arguments for ``create_model``: the architecture flags that were
        set."""
        if self.model in OTHER_MODELS:
            return {}
        given = {
            k: getattr(self, k) for k in ARCH_FIELDS if getattr(self, k) is not None
        }
        regularization = {
            "drop_path": self.drop_path,
            "dropout": self.dropout,
            "patch_drop": self.patch_drop,
        }
        return {**regularization, **given}

    def patch_drop_at(self, progress: float) -> float:
        """The share of patch tokens dropped at this progress (0-1) of the run."""
        return self.patch_drop if progress < self.patch_drop_until else 0.0

    def command(self) -> str:
        """The command line that runs this config: as typed, or an equivalent one."""
        if self.argv is not None:
            return "python -m vit_core.train " + shlex.join(self.argv)
        return "python -m vit_core.train " + shlex.join(to_argv(self))

    def to_json(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "argv": list(self.argv) if self.argv else None,
        }

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config has unknown fields: {', '.join(unknown)}")
        d = dict(d)
        if d.get("argv") is not None:
            d["argv"] = tuple(d["argv"])
        return cls(**d)


# The laptop presets: the recipes the CPU search chose (every run in
# vit_core/results/cpu_experiments.jsonl, each pair in the book's appendix "How the
# laptop recipes were found"). Why each part is there, in short:
PRESETS = {
    # 15 minutes on 2 cores: Muon (the largest gain, at equal epochs), half the patch
    # tokens dropped for the first 75% (about twice the step speed), batch 128 and no
    # crops (each ahead at two seeds, side by side); no mixup, CutMix or AutoAugment,
    # which the ablation ladder found cost accuracy in short runs (cpu_ablation.json).
    "laptop": TrainConfig(
        model="vit_laptop",
        optimizer="muon",
        batch_size=128,
        lr=2.8e-3,
        warmup_epochs=0.25,
        mixup_alpha=0.0,
        cutmix_alpha=0.0,
        drop_path=0.0,
        autoaugment="none",
        crop_padding=0,
        patch_drop=0.5,
        patch_drop_until=0.75,
        time_budget=900.0,
        threads=2,
        eval_every=0,
    ),
}
# An hour fits the training images well enough to gain from stronger augmentation:
# AutoAugment (ahead at two seeds), 4-pixel crops and batch 64 (the 15-minute choices
# tied or lost over the hour), and torch.compile, whose warm-up an hour earns back.
PRESETS["laptop-hour"] = replace(
    PRESETS["laptop"],
    batch_size=64,
    warmup_epochs=1.0,
    crop_padding=4,
    autoaugment="autoaugment",
    time_budget=3600.0,
    compile=True,
)
# The plain ViT of notebooks 1-4 for an hour, at the recipe its record was measured
# at (cpu_plain_hour.json): Muon and patch dropout won for it too; no AutoAugment,
# eager.
PRESETS["plain-hour"] = replace(
    PRESETS["laptop-hour"], model="vit_laptop_cls", autoaugment="none", compile=False
)

# The distillation teacher (chapter 10): AirNet, airbench94's network, at a recipe in
# airbench's spirit with this trainer's parts: Nesterov SGD at a high rate, label
# smoothing 0.2, flips and 2-pixel crops, ten epochs (about half an hour on 2 cores).
PRESETS["teacher"] = TrainConfig(
    model="airnet",
    optimizer="sgd",
    lr=0.25,
    weight_decay=1e-3,
    batch_size=256,
    warmup_epochs=0.5,
    grad_clip=0.0,
    label_smoothing=0.2,
    mixup_alpha=0.0,
    cutmix_alpha=0.0,
    drop_path=0.0,
    autoaugment="none",
    crop_padding=2,
    epochs=10,
    threads=2,
    eval_every=0,
)


def make_config(preset: str | None = None, **values) -> TrainConfig:
    """A preset (or the defaults) with ``values`` on top. With ``debug=True``, the
    epochs, batch size and time budget default to a seconds-long run, unless ``values``
    sets them."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}"
        )
    base = PRESETS[preset] if preset else TrainConfig()
    if values.get("debug"):
        small = {
            "epochs": 2,
            "batch_size": min(base.batch_size, 64),
            "time_budget": None,
        }
        values = {**small, **values}
    return replace(base, **values)


def to_argv(cfg: TrainConfig) -> list[str]:
    """Flags that rebuild ``cfg`` from the defaults (the equivalent command of a Python
    call)."""
    default, argv = make_config(debug=cfg.debug), ["--debug"] if cfg.debug else []
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if not f.compare or f.name == "debug" or value == getattr(default, f.name):
            continue
        if isinstance(value, bool):
            argv.append(f"--{flag(f.name)}" if value else f"--no-{flag(f.name)}")
        elif value is None:
            argv += [f"--{flag(f.name)}", "none"]
        elif isinstance(value, tuple):
            argv += [f"--{flag(f.name)}", ",".join(map(str, value))]
        else:
            argv += [f"--{flag(f.name)}", str(value)]
    return argv


# ---- a run folder's config.json: the TrainConfig it was started with
def run_folder(path) -> Path:
    """A run folder, given as itself or as a file inside it."""
    path = Path(path)
    return path if path.is_dir() or not path.suffix else path.parent


def read_run_config(path):
    """The TrainConfig a run folder was started with."""
    folder = run_folder(path)
    config = folder / "config.json"
    if not folder.is_dir():
        raise CheckpointError(f"cannot resume: there is no run folder {folder}")
    if not config.is_file():
        raise CheckpointError(
            f"cannot resume {folder}: it has no config.json (was it written "
            f"by python -m vit_core.train?)"
        )
    try:
        return TrainConfig.from_json(json.loads(config.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as e:
        raise CheckpointError(f"cannot resume: {config} is corrupt ({e})") from None


def resume_config(run, **run_values) -> TrainConfig:
    """The config of the run folder ``run``, set to resume it; ``run_values`` may change
    how it runs (RUN_FIELDS), never what it trains. ``stop_after`` counts anew."""
    saved = read_run_config(run)
    changed = [
        k
        for k, v in run_values.items()
        if k not in RUN_FIELDS + ("argv",) and v != getattr(saved, k, None)
    ]
    if changed:
        names = ", ".join(f"--{flag(k)}" for k in changed)
        raise ValueError(
            f"--resume continues the run's own recipe; {names} would change it. "
            f"Resume with --resume alone (plus run flags such as --stop-after), or "
            f"start a new run"
        )
    return replace(saved, **({"resume": str(run), "stop_after": None} | run_values))
