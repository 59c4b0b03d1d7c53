"""Train a model on CIFAR-10: ``python -m vit_core.train --model vit_tiny``.

The data lives on the training device as uint8 and is augmented there in whole batches.
A run's folder (``--out``) holds its ``config.json``, ``metrics.jsonl`` (a line per
epoch), the checkpoint (``checkpoint.safetensors`` and its ``checkpoint.json`` card),
``train_state.pt`` (optimizer, schedule, every process's RNG) and, at the end,
``summary.json``. ``--resume RUN`` continues it with no other flag. From Python:
``train(make_config("laptop", epochs=3))``. Several GPUs (or CPU processes): ``torchrun
--nproc_per_node=N -m vit_core.train ...``.
"""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import checkpoint as ckpt
from . import runlock, runlog
from .cli import parse_args
from .config import (
    DEBUG_TEST,
    DEBUG_TRAIN,
    TrainConfig,
    read_run_config,
)
from .data import DeviceLoader, load_cifar10, split_validation
from .distill import Teacher, load_teacher
from .distributed import Clock, Session
from .errors import CheckpointError, NonFiniteLoss, VitCoreError
from .mix import mix_batch, soft_cross_entropy
from .optim import build_optimizer
from .precision import autocast
from .registry import create_model
from .schedule import Schedule, ema_decay_at


def train(cfg: TrainConfig) -> dict | None:
    """Train as ``cfg`` says; the summary on the main process, None on the others."""
    out = run_out(cfg)
    with Session(cfg.device, cfg.threads, cfg.seed) as s, lock(out, s):
        train_loader, eval_loaders = load_data(cfg, s)
        model = create_model(cfg.model, **cfg.model_overrides()).to(s.device)
        teacher = load_teacher(cfg, model, s.device)
        optimizer = build_optimizer(model, cfg, s.device)
        ema = build_ema(model, cfg)
        schedule = Schedule(
            cfg.lr,
            cfg.min_lr,
            round(cfg.warmup_epochs * len(train_loader)),
            cfg.epochs * len(train_loader),
            cfg.time_budget,
            cfg.schedule,
        )
        s.seed_process()
        run = start_run(cfg, s, out, model, optimizer, ema, schedule)
        net = wrap(model, cfg, s)
        clock = Clock(s, run.train_seconds)
        log = runlog.RunLog(cfg, s, model, run, teacher)
        if cfg.teacher_cache:  # its pass counts in the run's time, as the steps do
            run.train_seconds = teacher.cache_logits(train_loader, clock)

        for epoch in range(int(run.epoch), cfg.epochs):
            train_loader.set_epoch(epoch)
            mix_gen = torch.Generator().manual_seed(
                cfg.seed * 7919 + epoch * 104729 + s.rank
            )
            model.train()
            losses, lr = [], None
            clock.start()
            for x, y in log.progress(train_loader, epoch):
                seconds = clock.seconds()
                if schedule.finished(run.step, seconds):  # the time budget ran out
                    break
                lr = schedule.lr(run.step, seconds)
                if cfg.patch_drop:
                    model.patch_drop.p = cfg.patch_drop_at(
                        schedule.progress(run.step, seconds)
                    )
                for group in optimizer.param_groups:
                    group["lr"] = lr

                with autocast(s.device, cfg.precision):
                    loss = batch_loss(net, x, y, cfg, mix_gen, teacher)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                optimizer.step()
                if ema is not None:
                    ema.update_parameters(model)

                losses.append(loss.detach())
                run.step += 1
                check_finite(
                    losses, run, epoch, window=1 if s.device.type == "cpu" else 50
                )
                log.step(loss, lr, len(losses))
            run.train_seconds = clock.stop()
            check_finite(losses, run, epoch, window=len(losses))
            run.epoch = epoch + len(losses) / len(train_loader)
            run.stopped_by = stop_reason(cfg, run, schedule, epoch)

            results = evaluate_all(cfg, s, model, ema, eval_loaders, run)
            log.epoch(losses, lr, results)
            save_run(s, run, model, optimizer, ema, schedule, log.card(results))
            if run.stopped_by:
                break
        return log.finish(results)


@dataclass
class RunState:
    """Where a run stands; ``train_state.pt`` keeps it between invocations."""

    out: Path
    command: str  # the command that started the run (a resume keeps it)
    epoch: float = 0.0  # a time-budget epoch that ends early counts as a fraction
    step: int = 0
    train_seconds: float = 0.0
    first_epoch: int = 0  # of this invocation, for --stop-after
    stopped_by: str | None = None


def load_data(
    cfg: TrainConfig, s: Session
) -> tuple[DeviceLoader, dict[str, DeviceLoader]]:
    """The training loader, and the loaders evaluated: val (with --val-split) and
    test."""
    train_x, train_y = load_cifar10(cfg.data_dir, train=True, download=cfg.download)
    test_x, test_y = load_cifar10(cfg.data_dir, train=False, download=cfg.download)
    if cfg.debug:
        train_x, train_y = train_x[:DEBUG_TRAIN], train_y[:DEBUG_TRAIN]
        test_x, test_y = test_x[:DEBUG_TEST], test_y[:DEBUG_TEST]
    (train_x, train_y), (val_x, val_y) = split_validation(
        train_x, train_y, cfg.val_split
    )
    train_loader = DeviceLoader(
        train_x,
        train_y,
        cfg.batch_size // s.world,
        s.device,
        train=True,
        seed=cfg.seed,
        crop_padding=cfg.crop_padding,
        policy=cfg.autoaugment,
        rank=s.rank,
        world_size=s.world,
    )
    evals = {"test": DeviceLoader(test_x, test_y, 500, s.device, train=False)}
    if cfg.val_split:
        evals["val"] = DeviceLoader(val_x, val_y, 500, s.device, train=False)
    return train_loader, evals


def build_ema(model: torch.nn.Module, cfg: TrainConfig):
    if not cfg.ema:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    if not cfg.ema_warmup:
        update = get_ema_multi_avg_fn(cfg.ema_decay)
    else:

        @torch.no_grad()
        def update(averaged: list, current: list, n_averaged: torch.Tensor) -> None:
            # n_averaged counts the updates so far; the first one copied the model
            decay = ema_decay_at(int(n_averaged), cfg.ema_decay)
            if torch.is_floating_point(averaged[0]):
                torch._foreach_lerp_(averaged, current, 1.0 - decay)
            else:  # integer buffers (a batch norm's count) follow the model
                torch._foreach_copy_(averaged, current)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def wrap(model: torch.nn.Module, cfg: TrainConfig, s: Session) -> torch.nn.Module:
    """The module the training step calls: compiled and/or DDP around ``model``."""
    net = torch.compile(model) if cfg.compile else model
    if s.world > 1:
        ids = [s.device.index] if s.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
    return net


def batch_loss(
    net, x, y, cfg: TrainConfig, generator: torch.Generator, teacher: Teacher | None
) -> torch.Tensor:
    """Cross-entropy with label smoothing, on a mixup/CutMix batch when those are on;
    with a teacher, its distillation loss on that same batch."""
    target = y
    if cfg.mixup_alpha > 0 or cfg.cutmix_alpha > 0:
        x, target = mix_batch(
            x, y, 10, cfg.mixup_alpha, cfg.cutmix_alpha, cfg.label_smoothing, generator
        )
    if teacher is None:
        return label_loss(net(x), target, cfg)
    if teacher.two_heads:
        logits, dist_logits = net(x, distill=True)
    else:
        logits = dist_logits = net(x)
    return teacher.loss(x, label_loss(logits, target, cfg), dist_logits)


def label_loss(logits, target, cfg: TrainConfig) -> torch.Tensor:
    """Against soft targets (B, classes), mixed with the smoothing in, or classes."""
    if target.ndim == 2:
        return soft_cross_entropy(logits, target)
    return F.cross_entropy(logits.float(), target, label_smoothing=cfg.label_smoothing)


def check_finite(losses: list, run: RunState, epoch: int, window: int) -> None:
    """Stop on a NaN or infinite loss, naming its step: checks the last ``window``
    losses when their count is a multiple of it. On a GPU the window is wide, since
    reading a value back waits for the device."""
    if not losses or len(losses) % window:
        return
    recent = torch.stack(losses[-window:])
    bad = (~torch.isfinite(recent)).nonzero()
    if len(bad):
        step = run.step - len(recent) + int(bad[0]) + 1
        raise NonFiniteLoss(
            f"the loss became {recent[int(bad[0])].item()} at step {step} "
            f"(epoch {epoch + 1}); stopped. The last good checkpoint, if any, is in "
            f"{run.out} (lower --lr, or use --grad-clip)"
        )


def stop_reason(
    cfg: TrainConfig, run: RunState, schedule: Schedule, epoch: int
) -> str | None:
    if schedule.finished(run.step, run.train_seconds) and run.epoch < cfg.epochs:
        return "time budget"
    if run.epoch >= cfg.epochs:
        return "epochs"
    if cfg.stop_after and epoch + 1 - run.first_epoch >= cfg.stop_after:
        return "stop after"
    return None


@torch.no_grad()
def evaluate_all(cfg, s: Session, model, ema, loaders: dict, run: RunState) -> dict:
    """{split: {weights: result}} on the main process, when an evaluation is due: every
    ``eval_every`` epochs on val (or test without a val split), and on every split at
    the end, where the saved weights are also evaluated with flip averaging
    (``flip``)."""
    from .evaluate import evaluate

    due = (
        cfg.eval_every
        and run.epoch.is_integer()
        and int(run.epoch) % cfg.eval_every == 0
    )
    if not s.main or not (due or run.stopped_by):
        return {}
    splits = (
        list(loaders) if run.stopped_by else ["val" if "val" in loaders else "test"]
    )
    weights = {"raw": model} | ({"ema": ema.module} if ema is not None else {})
    results = {
        split: {
            name: evaluate(m, loaders[split], s.device, cfg.precision)
            for name, m in weights.items()
        }
        for split in splits
    }
    if run.stopped_by:  # the final weights, with and without test-time flips
        saved = weights["ema" if ema is not None else "raw"]
        for split in splits:
            results[split]["flip"] = evaluate(
                saved, loaders[split], s.device, cfg.precision, flip=True
            )
    return results


def run_out(cfg: TrainConfig) -> Path:
    """The folder the run writes: ``--out``, the resumed run's, or a new one."""
    if cfg.out or cfg.resume:
        return Path(cfg.out or cfg.resume)
    return Path("runs") / f"{cfg.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def lock(out: Path, s: Session):
    """The main process holds ``out`` while the run lasts (the others write nothing
    there)."""
    return runlock.hold(out) if s.main else nullcontext()


def start_run(cfg, s: Session, out, model, optimizer, ema, schedule) -> RunState:
    """A fresh run folder, or the state of the run that ``cfg.resume`` names."""
    if not cfg.resume:
        if s.main:
            ckpt.start_run_folder(out, cfg)
        return RunState(out, cfg.command())
    saved = read_run_config(cfg.resume)
    changed = [k for k, v in cfg.recipe().items() if saved.recipe()[k] != v]
    if changed:
        raise CheckpointError(
            f"{cfg.resume} was trained with another recipe; it differs in "
            f"{', '.join(changed)}"
        )
    state = ckpt.read_train_state(cfg.resume)
    ckpt.load_into(
        model,
        state["weights"],
        cfg.resume,
        f"the run {cfg.resume} holds weights of another shape than its {cfg.model}",
    )
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        ema.load_state_dict(state["ema"])
    schedule.warmup_end = state["warmup_end"]
    if len(state["rng"]) != s.world:
        raise CheckpointError(
            f"{cfg.resume} ran on {len(state['rng'])} process(es); resume it "
            f"on as many, not {s.world}"
        )
    s.set_rng_state(state["rng"][s.rank])
    if state["stopped_by"] in ("epochs", "time budget"):
        raise CheckpointError(
            f"{cfg.resume} already finished: it trained {state['epoch']:g} "
            f"epochs and stopped by its {state['stopped_by']}; there is "
            f"nothing to resume"
        )
    return RunState(
        out,
        saved.command(),
        state["epoch"],
        state["step"],
        state["train_seconds"],
        first_epoch=int(state["epoch"]),
    )


def save_run(
    s: Session, run: RunState, model, optimizer, ema, schedule, card: dict
) -> None:
    """The checkpoint (the evaluated weights: EMA when on) and the state to resume
    from."""
    rng = s.gather(s.rng_state())  # a collective: every process takes part
    if s.main:
        ckpt.save_checkpoint(
            ema.module if ema is not None else model,
            run.out / "checkpoint.safetensors",
            card,
            train_state={
                "epoch": run.epoch,
                "step": run.step,
                "train_seconds": run.train_seconds,
                "stopped_by": run.stopped_by,
                "warmup_end": schedule.warmup_end,
                "rng": rng,
                "optimizer": optimizer.state_dict(),
                "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "ema": ema.state_dict() if ema is not None else None,
            },
        )
    s.barrier()


def main(argv=None) -> None:
    try:
        train(parse_args(argv))
    except (VitCoreError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
