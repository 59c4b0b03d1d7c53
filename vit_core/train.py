"""Train a model on CIFAR-10: ``python -m vit_core.train --model vit_tiny``.

The data lives on the training device as uint8 and is augmented there in whole batches. Everything a run
does lands in its folder (``--out``): ``metrics.jsonl`` (one line per epoch), ``checkpoint.safetensors`` and
its ``checkpoint.json`` card, ``train_state.pt`` for ``--resume``, and ``summary.json`` at the end.
Multi-GPU (or multi-process CPU): ``torchrun --nproc_per_node=N -m vit_core.train ...``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from . import checkpoint as ckpt
from .data import DeviceLoader, load_cifar10
from .errors import CheckpointError, VitCoreError
from .evaluate import autocast, evaluate
from .mix import mix_batch, soft_cross_entropy
from .model import count_params
from .registry import MODEL_NAMES, create_model, model_config
from .runinfo import command_line, environment, resolve_device
from .schedule import cosine_lr, lr_at, parse_duration

# The default recipe follows the published evidence for plain ViTs on CIFAR-10 (DeiT's recipe as adapted
# by Lee et al. 2021, "Vision Transformer for Small-Size Datasets"): AdamW 1e-3 / wd 0.05, warmup + cosine,
# label smoothing 0.1, drop-path 0.1, AutoAugment with mixup and CutMix.
DEFAULTS = dict(
    model="vit_tiny", epochs=100, batch_size=256, lr=1e-3, min_lr=1e-5, weight_decay=0.05, warmup_epochs=5.0,
    optimizer="adamw", schedule="cosine", label_smoothing=0.1, mixup_alpha=0.8, cutmix_alpha=1.0,
    drop_path=0.1, dropout=0.0, autoaugment="autoaugment", grad_clip=1.0, ema=False, ema_decay=0.999,
    time_budget=None, eval_every=1, threads=None,
)
# A preset replaces the defaults; flags given on the command line still win.
PRESETS = {
    # The best recipe found for 15 minutes on a 2-core CPU: results/cpu_experiments.jsonl shows the search.
    "laptop": dict(model="vit_laptop", batch_size=64, lr=1.4e-3, min_lr=1e-5, weight_decay=0.05,
                   warmup_epochs=0.25, label_smoothing=0.1, mixup_alpha=0.0, cutmix_alpha=0.0, drop_path=0.0,
                   autoaugment="none", time_budget="15m", epochs=100, threads=2, eval_every=0),
}
DEBUG_TRAIN, DEBUG_TEST = 512, 256
MAX_WARMUP_SHARE = 0.2  # of a --time-budget
ARCH_FLAGS = ("patch_size", "pool", "pos_embed", "embed_dim", "depth", "num_heads", "mlp_ratio", "stem", "stem_channels")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m vit_core.train", description=__doc__.splitlines()[0])
    a = p.add_argument
    a("--preset", choices=sorted(PRESETS), help="a tested recipe; other flags override its values")
    g = p.add_argument_group("model and schedule")
    g.add_argument("--model", help=f"one of: {', '.join(MODEL_NAMES)}")
    g.add_argument("--patch-size", type=int, help="override the model's patch size")
    g.add_argument("--pool", choices=["cls", "avg"], help="override the model's pooling")
    g.add_argument("--pos-embed", choices=["learned", "sincos"], help="override the position embedding")
    g.add_argument("--embed-dim", type=int, help="override the token width")
    g.add_argument("--depth", type=int, help="override the number of blocks")
    g.add_argument("--num-heads", type=int, help="override the number of heads")
    g.add_argument("--mlp-ratio", type=float, help="override the MLP's hidden width / token width")
    g.add_argument("--stem", choices=["patch", "conv"], help="override the tokenizer")
    g.add_argument("--stem-channels", type=lambda t: tuple(int(c) for c in t.split(",")),
                   help="widths of the conv stem's stride-2 convs, e.g. 32,64")
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int, help="global batch size (split across processes)")
    g.add_argument("--lr", type=float, help="peak learning rate")
    g.add_argument("--min-lr", type=float, help="learning rate at the end of the cosine")
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument("--optimizer", choices=["adamw", "sgd"])
    g.add_argument("--schedule", choices=["cosine", "constant"])
    g.add_argument("--grad-clip", type=float, help="max gradient norm (0: off)")
    g.add_argument("--time-budget", help="train for this long (e.g. 15m; 'none': by epochs); the schedule ends when time runs out")
    g = p.add_argument_group("regularization")
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--mixup-alpha", type=float)
    g.add_argument("--cutmix-alpha", type=float)
    g.add_argument("--drop-path", type=float)
    g.add_argument("--dropout", type=float)
    g.add_argument("--autoaugment", nargs="?", const="autoaugment", choices=["none", "autoaugment", "randaugment"],
                   help="policy augmentation (bare flag: AutoAugment's CIFAR-10 policy)")
    g.add_argument("--ema", action="store_const", const=True, help="keep an exponential moving average of weights")
    g.add_argument("--ema-decay", type=float)
    g = p.add_argument_group("data, output, speed")
    g.add_argument("--data-dir", help="folder holding cifar-10-batches-py/ (default: $VIT_CORE_DATA)")
    g.add_argument("--download", action="store_true", help="download CIFAR-10 with torchvision if it is missing")
    g.add_argument("--out", help="run folder (default: runs/MODEL-TIME, or the --resume folder)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--resume", help="a run folder or checkpoint to continue from")
    g.add_argument("--stop-after", type=int, help="stop after this many epochs of this invocation "
                   "(train a long run in sessions; continue with --resume)")
    g.add_argument("--eval-every", type=int, help="evaluate every N epochs (0: only at the end)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    g.add_argument("--threads", type=int, help="CPU threads for torch")
    g.add_argument("--debug", action="store_true", help=f"{DEBUG_TRAIN} training images, 2 epochs: seconds on a CPU")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--log-to", help="append a one-line record of this run (recipe, speed, accuracy) to a JSONL file")
    g.add_argument("--note", help="a note for the --log-to record, e.g. what the run tests")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    base = {**DEFAULTS, **PRESETS.get(args.preset, {})}
    for k, v in base.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if str(args.time_budget).lower() == "none":  # lets a preset's budget be switched off
        args.time_budget = None
    args.time_budget_s = parse_duration(args.time_budget) if args.time_budget else None
    if args.debug:
        args.epochs = min(args.epochs, 2)
        args.batch_size = min(args.batch_size, 64)
        args.time_budget = args.time_budget_s = None
    if args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not args.lr > 0:
        raise ValueError(f"--lr must be positive, got {args.lr}")
    return args


def model_overrides(args) -> dict:
    if args.model == "resnet18":
        return {}
    o = {"drop_path": args.drop_path, "dropout": args.dropout}
    for k in ARCH_FLAGS:
        if getattr(args, k) is not None:
            o[k] = getattr(args, k)
    return o


def build_optimizer(model: torch.nn.Module, args, device: torch.device) -> torch.optim.Optimizer:
    """No weight decay on norms, biases, the CLS token or position embeddings."""
    skip = model.no_weight_decay()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.999), fused=device.type == "cuda")


def setup_distributed(args) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, resolve_device(args.device)
    use_cuda = torch.cuda.is_available() and args.device != "cpu"
    dist.init_process_group("nccl" if use_cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local)
    return dist.get_rank(), world, torch.device(f"cuda:{local}" if use_cuda else "cpu")


def describe_data(data_dir) -> str:
    """'CIFAR-10 (JPEG copy)' for the offline copy (its file names are paths), else 'CIFAR-10'."""
    import pickle

    from .data import BATCH_DIR, resolve_data_dir

    try:
        with open(resolve_data_dir(data_dir) / BATCH_DIR / "test_batch", "rb") as f:
            names = pickle.load(f, encoding="bytes").get(b"filenames", [])
        return "CIFAR-10 (JPEG copy)" if names and b"/" in names[0] else "CIFAR-10"
    except Exception:
        return "CIFAR-10"


class NonFiniteLoss(VitCoreError):
    pass


def train(args) -> dict:
    rank, world, device = setup_distributed(args)
    main_proc = rank == 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)  # the same initial weights on every rank

    # ---- data: uint8 tensors on the training device
    train_x, train_y = load_cifar10(args.data_dir, train=True, download=args.download)
    test_x, test_y = load_cifar10(args.data_dir, train=False, download=args.download)
    if args.debug:
        train_x, train_y, test_x, test_y = train_x[:DEBUG_TRAIN], train_y[:DEBUG_TRAIN], test_x[:DEBUG_TEST], test_y[:DEBUG_TEST]
    loader = DeviceLoader(train_x, train_y, args.batch_size // world, device, train=True, seed=args.seed,
                          policy=args.autoaugment, rank=rank, world_size=world)
    test_loader = DeviceLoader(test_x, test_y, 500, device, train=False)

    # ---- model and optimizer
    model = create_model(args.model, **model_overrides(args)).to(device)
    optimizer = build_optimizer(model, args, device)
    ema = None
    if args.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True)

    # ---- where we start: fresh, or from a checkpoint
    start_epoch, step, train_seconds, warmup_end_s = 0, 0, 0.0, None
    out = Path(args.out) if args.out else None
    if args.resume:
        state = resume(args, model, optimizer, ema)
        start_epoch, step, train_seconds = state["epoch"], state["step"], state["train_seconds"]
        warmup_end_s = state.get("warmup_end_s")
        out = out or ckpt.checkpoint_paths(args.resume)[0].parent
    out = out or Path("runs") / f"{args.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    if main_proc:
        out.mkdir(parents=True, exist_ok=True)

    net = torch.compile(model) if args.compile else model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    steps_per_epoch = len(loader)
    total_steps = args.epochs * steps_per_epoch
    warmup_steps = round(args.warmup_epochs * steps_per_epoch)
    budget = args.time_budget_s
    mixing = args.mixup_alpha > 0 or args.cutmix_alpha > 0
    env = environment(device)
    recipe = {k: getattr(args, k) for k in DEFAULTS} | {"precision": args.precision, "compile": args.compile,
                                                        "seed": args.seed, "debug": args.debug}
    card_base = {"model": args.model, "config": config_of(model, args), "recipe": recipe,
                 "data": describe_data(args.data_dir), "hardware": env["device"], "command": command_line("vit_core.train"),
                 "commit": env["commit"], "params": count_params(model)}
    if main_proc:
        print(f"{args.model}: {count_params(model):,} parameters | {len(train_x):,} train images | device "
              f"{env['device']} | {world} process(es) | out {out}", file=sys.stderr)

    history, first_step_s, result, time_up, epoch = [], None, None, False, start_epoch
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    run_start = time.perf_counter()
    for epoch in range(start_epoch, args.epochs):
        loader.set_epoch(epoch)
        mix_gen = torch.Generator().manual_seed(args.seed * 7919 + epoch * 104729 + rank)
        losses = torch.zeros(steps_per_epoch, device=device)  # filled without a host sync per step
        model.train()
        t0, done = time.perf_counter(), 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not main_proc or args.quiet,
                   leave=False, dynamic_ncols=True, mininterval=1.0)
        for i, (x, y) in enumerate(bar):
            # ---- learning rate for this step
            if budget is None:
                lr = lr_at(step, total_steps, warmup_steps, args.lr, args.min_lr, args.schedule)
            elif args.schedule == "constant":
                lr = args.lr
            else:  # warmup for its steps (at most a fifth of the budget), then a cosine that ends on time
                elapsed = train_seconds + time.perf_counter() - t0
                warm = max((step + 1) / max(warmup_steps, 1), elapsed / (MAX_WARMUP_SHARE * budget))
                if warm < 1 and warmup_end_s is None:
                    lr = args.lr * warm
                else:
                    warmup_end_s = elapsed if warmup_end_s is None else warmup_end_s
                    lr = cosine_lr((elapsed - warmup_end_s) / max(budget - warmup_end_s, 1e-9), args.lr, args.min_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr

            # ---- forward, backward, update
            with autocast(device, args.precision):
                if mixing:
                    x, target = mix_batch(x, y, 10, args.mixup_alpha, args.cutmix_alpha, args.label_smoothing, mix_gen)
                    loss = soft_cross_entropy(net(x), target)
                else:
                    loss = F.cross_entropy(net(x).float(), y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
            optimizer.step()
            if ema is not None:
                ema.update_parameters(model)
            losses[i] = loss.detach()
            step, done = step + 1, done + 1
            if first_step_s is None:
                first_step_s = time.perf_counter() - t0  # includes compilation when --compile is on

            # ---- checks that need the host: non-finite loss, progress, time
            if device.type == "cpu" or i % 50 == 49 or i == steps_per_epoch - 1:
                check_finite(losses[:i + 1], step - i - 1, epoch, out)
            if main_proc and not args.quiet and i % 20 == 0:
                rate = done * args.batch_size / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", img_s=f"{rate:,.0f}", refresh=False)
            if budget is not None and train_seconds + time.perf_counter() - t0 >= budget:
                time_up = True
                break
        bar.close()
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_s = time.perf_counter() - t0
        train_seconds += epoch_s
        check_finite(losses[:done], step - done, epoch, out)

        # ---- evaluate, log, checkpoint (main process only)
        last = epoch + 1 == args.epochs or time_up or (args.stop_after and epoch + 1 - start_epoch >= args.stop_after)
        if main_proc:
            evaluated = ema.module if ema is not None else model
            do_eval = last or (args.eval_every and (epoch + 1) % args.eval_every == 0)
            t_eval = time.perf_counter()
            result = evaluate(evaluated, test_loader, device, args.precision) if do_eval else None
            eval_s = time.perf_counter() - t_eval
            row = {"epoch": epoch + 1, "step": step, "train_loss": losses[:done].mean().item(), "lr": lr,
                   "epoch_seconds": round(epoch_s, 3), "train_seconds": round(train_seconds, 3),
                   "img_per_s": round(done * args.batch_size / epoch_s, 1), "eval_seconds": round(eval_s, 3),
                   "test_accuracy": result["accuracy"] if result else None}
            history.append(row)
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            acc_txt = f" | test acc {result['accuracy'] * 100:.2f}%" if result else ""
            print(f"epoch {epoch + 1}: loss {row['train_loss']:.4f} | {row['img_per_s']:,.0f} img/s | "
                  f"{train_seconds:.1f}s trained{acc_txt}", file=sys.stderr)
            card = card_base | {"epoch": epoch + 1, "test_accuracy": result["accuracy"] if result else None,
                                "train_seconds": round(train_seconds, 2), "ema": ema is not None}
            ckpt.save_checkpoint(evaluated, out / "checkpoint.safetensors", card)
            save_train_state(out, model, optimizer, ema, epoch + 1, step, train_seconds, warmup_end_s, args)
        if world > 1:
            dist.barrier()
        if last:
            break

    summary = None
    if main_proc:
        summary = {
            "model": args.model, "params": count_params(model), "test_accuracy": result["accuracy"],
            "per_class_accuracy": result["per_class_accuracy"], "confusion": result["confusion"],
            "epochs": epoch + 1, "steps": step, "train_seconds": round(train_seconds, 2),
            "wall_seconds": round(time.perf_counter() - run_start, 2),
            "first_step_seconds": round(first_step_s, 3) if first_step_s is not None else None,
            "img_per_s": round(sum(h["img_per_s"] * h["epoch_seconds"] for h in history) /
                               max(sum(h["epoch_seconds"] for h in history), 1e-9), 1),
            "time_budget_seconds": budget, "stopped_by": "time budget" if time_up else "epochs",
            "data": card_base["data"], "command": card_base["command"], "processes": world, **env,
            "recipe": recipe, "out": str(out),
        }
        ckpt.atomic_write_json(out / "summary.json", summary)
        if args.log_to:
            log_experiment(args.log_to, summary, card_base["config"], args.note, load_at_start)
        print(f"done: test accuracy {summary['test_accuracy'] * 100:.2f}% after {summary['epochs']} epochs, "
              f"{summary['train_seconds']:.1f}s of training; results in {out}", file=sys.stderr)
    if world > 1:
        dist.destroy_process_group()
    return summary


def log_experiment(path, summary: dict, config: dict, note, load_at_start) -> None:
    """One line per run: enough to compare recipes (the search behind a preset) without opening run folders.
    The load average shows how busy the machine was, since other work on the cores lowers img/s."""
    keep = ("model", "params", "test_accuracy", "epochs", "train_seconds", "img_per_s", "stopped_by", "device",
            "commit", "command", "recipe")
    record = {"note": note, **{k: summary[k] for k in keep}, "train_minutes": round(summary["train_seconds"] / 60, 2),
              "config": config, "load_avg_start": load_at_start,
              "load_avg_end": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def config_of(model, args) -> dict:
    return model.cfg.to_dict() if hasattr(model, "cfg") else model_config(args.model)


def check_finite(losses: torch.Tensor, first_step: int, epoch: int, out: Path) -> None:
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        i = int(bad[0])
        raise NonFiniteLoss(
            f"the loss became {losses[i].item()} at step {first_step + i + 1} (epoch {epoch + 1}); stopped. "
            f"The last good checkpoint, if any, is in {out} (lower --lr, or use --grad-clip)")


def save_train_state(out: Path, model, optimizer, ema, epoch, step, train_seconds, warmup_end_s, args) -> None:
    state = {"model": args.model, "epoch": epoch, "step": step, "train_seconds": train_seconds,
             "warmup_end_s": warmup_end_s, "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
             "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "ema": ema.state_dict() if ema is not None else None}
    ckpt.atomic_write(out / "train_state.pt", lambda tmp: torch.save(state, tmp))


def resume(args, model, optimizer, ema) -> dict:
    """Restore weights, optimizer, RNG and position from a run folder; refuse another architecture."""
    weights_path, _ = ckpt.checkpoint_paths(args.resume)
    card = ckpt.read_card(args.resume)
    if card["model"] != args.model:
        raise CheckpointError(f"checkpoint {weights_path} was trained as {card['model']}, but --model is {args.model}")
    state_path = weights_path.parent / "train_state.pt"
    if not state_path.is_file():
        raise CheckpointError(f"cannot resume: {state_path} (optimizer state) is missing beside {weights_path}")
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"training state {state_path} is truncated or corrupt ({type(e).__name__})") from None
    ckpt.read_weights(weights_path)  # a corrupt weights file fails here, with its name
    # The raw (non-EMA) weights live in train_state; the .safetensors holds what was evaluated.
    ckpt.load_into(model, state["weights"], state_path, expected=args.model, found=card["model"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None and state.get("ema") is not None:
        ema.load_state_dict(state["ema"])
    torch.set_rng_state(state["rng"])
    if state["epoch"] >= args.epochs:
        raise CheckpointError(f"checkpoint {weights_path} already finished {state['epoch']} of {args.epochs} epochs")
    return state


def main(argv=None) -> None:
    try:
        train(parse_args(argv))
    except (VitCoreError, ValueError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
