"""Training throughput, measured side by side in one run: ``python -m vit_core.bench``.

The comparisons, each timed in alternating rounds so that drift of the machine hits
both sides alike:
- ``pipeline``: our fast path (uint8 data on the device, batch augmentation, optional
  bf16/compile) against the original project's baseline (fp32, eager, batch 128,
  torchvision DataLoader with per-image PIL transforms);
- ``timm``: our model's training step against timm's VisionTransformer of the same
  configuration;
- ``augment``: the cost of each augmentation on a batch;
- ``patch-drop``: the training step with every patch token against steps that drop a
  share of them (``--patch-drop``);
- ``step``: where a training step of the presets' optimizers (Muon and AdamW) spends
  its time, with every patch and with a share of them dropped;
- ``muon``: Muon's Newton-Schulz on the blocks' matrices, one matrix at a time against
  one stacked product per shape (what ``Muon.step`` does);
- ``precision``: the presets' training step in fp32 against bf16 autocast;
- ``compile``: the presets' training step eager against ``torch.compile``, with the
  compiled side's first steps (its compilation) timed apart.
Results (mean and spread over rounds, device, command, commit) go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import atomic_write_json
from .config import make_config
from .data import (
    MEAN,
    STD,
    DeviceLoader,
    load_cifar10,
    normalize,
    policy_augment,
    random_crop,
    random_flip,
)
from .errors import VitCoreError
from .mix import mix_batch
from .model import timm_twin
from .optim import build_optimizer, is_hidden_matrix, orthogonalize
from .precision import PRECISIONS, autocast
from .registry import create_model
from .runinfo import command_line, environment, resolve_device

PATCH_DROPS = (0.0, 0.25, 0.5)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step_fn(model, device, precision: str, compile_: bool):
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")

    def step(x, y):
        with autocast(device, precision):
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def timed_rounds(
    sides: dict,
    steps: int,
    rounds: int,
    warmup: int,
    device,
    batch_size: dict,
    per: str = "img",
) -> dict:
    """Run each side's ``next_step()`` ``steps`` times per round, alternating sides;
    ``per`` (images) per second, each round."""
    for run in sides.values():
        for _ in range(warmup):
            run()
    sync(device)
    rates = {name: [] for name in sides}
    for _ in range(rounds):
        for name, run in sides.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                run()
            sync(device)
            rates[name].append(steps * batch_size[name] / (time.perf_counter() - t0))
    return {
        name: {
            f"{per}_per_s_mean": statistics.mean(r),
            f"{per}_per_s_std": statistics.stdev(r) if len(r) > 1 else 0.0,
            f"{per}_per_s_rounds": [round(v, 1) for v in r],
            "batch_size": batch_size[name],
        }
        for name, r in rates.items()
    }


class PILDataset(torch.utils.data.Dataset):
    """The original project's pipeline, the baseline of ``pipeline``: one PIL image at
    a time through torchvision transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, train: bool = True):
        from torchvision import transforms as T

        self.images = images.permute(0, 2, 3, 1).numpy()  # (N, 32, 32, 3) for PIL
        self.labels = labels
        aug = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if train else []
        self.transform = T.Compose(aug + [T.ToTensor(), T.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def bench_pipeline(args, device) -> dict:
    images, labels = load_cifar10(args.data_dir, train=True)
    torch.manual_seed(0)
    ours_step = train_step_fn(
        create_model(args.model).to(device), device, args.precision, args.compile
    )
    loader = DeviceLoader(
        images, labels, args.batch_size, device, train=True, policy=args.autoaugment
    )
    ours_batches = itertools.chain.from_iterable(itertools.repeat(loader))

    base_step = train_step_fn(
        create_model(args.model).to(device), device, "fp32", False
    )
    base_loader = torch.utils.data.DataLoader(
        PILDataset(images, labels),
        batch_size=128,
        shuffle=True,
        num_workers=args.workers,
        drop_last=True,
        persistent_workers=args.workers > 0,
    )
    base_batches = itertools.chain.from_iterable(itertools.repeat(base_loader))

    def ours():
        ours_step(*next(ours_batches))

    def baseline():
        x, y = next(base_batches)
        base_step(x.to(device, non_blocking=True), y.to(device, non_blocking=True))

    res = timed_rounds(
        {"ours": ours, "baseline": baseline},
        args.steps,
        args.rounds,
        args.warmup,
        device,
        {"ours": args.batch_size, "baseline": 128},
    )
    res["speedup"] = res["ours"]["img_per_s_mean"] / res["baseline"]["img_per_s_mean"]
    res["ours"].update(
        precision=args.precision,
        compile=args.compile,
        autoaugment=args.autoaugment,
        pipeline="uint8 on device, batch crop+flip",
    )
    res["baseline"].update(
        precision="fp32",
        compile=False,
        workers=args.workers,
        pipeline="torchvision DataLoader, PIL RandomCrop+Flip+ToTensor+Normalize",
    )
    return res


def time_models(models: dict, args, device, img_size: int = 32) -> dict:
    """Training steps of each of ``models`` on one fixed random batch, in alternating
    rounds (``timed_rounds``)."""
    x = torch.randn(args.batch_size, 3, img_size, img_size, device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    steps = {
        name: train_step_fn(m.to(device), device, args.precision, args.compile)
        for name, m in models.items()
    }
    return timed_rounds(
        {k: (lambda s=s: s(x, y)) for k, s in steps.items()},
        args.steps,
        args.rounds,
        args.warmup,
        device,
        dict.fromkeys(steps, args.batch_size),
    )


def bench_timm(args, device) -> dict:
    torch.manual_seed(0)
    ours = create_model(args.model)
    models = {"ours": ours, "timm": timm_twin(ours.cfg)}
    res = time_models(models, args, device, ours.cfg.img_size)
    res["time_ratio_ours_over_timm"] = (
        res["timm"]["img_per_s_mean"] / res["ours"]["img_per_s_mean"]
    )
    return res


def bench_patch_drop(args, device) -> dict:
    torch.manual_seed(0)
    models = {
        f"drop {p:g}": create_model(args.model, patch_drop=p) for p in PATCH_DROPS
    }
    res = time_models(models, args, device)
    base = res["drop 0"]["img_per_s_mean"]
    res["speedup"] = {k: res[k]["img_per_s_mean"] / base for k in models}
    return res


STEP_PARTS = ("forward", "backward", "clip", "muon", "adamw")
STEP_DROPS = (0.0, 0.5, 0.75)


def timed_steps(args, device, sides: dict) -> dict:
    """Milliseconds per part of the laptop preset's training step (Muon and AdamW),
    for each side ``name: (patch_drop, precision, compiled)``, in alternating rounds;
    the seconds each side's warm-up took (a compiled side compiles in it)."""
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch_size,), device=device)
    cfg = make_config("laptop", model=args.model)
    runs = {}
    for name, (drop, precision, compiled) in sides.items():
        model = create_model(args.model, patch_drop=drop).to(device).train()
        opts = build_optimizer(model, cfg, device).optimizers
        net = torch.compile(model) if compiled else model
        runs[name] = (model, net, opts, precision)
    ms = {name: {part: [] for part in STEP_PARTS} for name in runs}

    def step(name: str) -> None:
        model, net, (muon, adamw), precision = runs[name]
        marks = [time.perf_counter()]

        def mark():
            sync(device)
            marks.append(time.perf_counter())

        with autocast(device, precision):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        mark()
        muon.zero_grad(set_to_none=True)
        adamw.zero_grad(set_to_none=True)
        loss.backward()
        mark()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        mark()
        muon.step()
        mark()
        adamw.step()
        mark()
        for part, t0, t1 in zip(STEP_PARTS, marks, marks[1:]):
            ms[name][part].append(1000 * (t1 - t0))

    warmup_seconds = {}
    for name in runs:
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            step(name)
        warmup_seconds[name] = time.perf_counter() - t0
    for parts in ms.values():
        for times in parts.values():
            times.clear()  # the warm-up steps
    for _ in range(args.rounds):
        for name in runs:
            for _ in range(args.steps):
                step(name)
    out = {"batch_size": args.batch_size, "optimizers": "muon+adamw"}
    for name, parts in ms.items():
        mean = {part: statistics.mean(v) for part, v in parts.items()}
        per_step = [sum(t) for t in zip(*parts.values())]
        rounds = [
            statistics.mean(per_step[i : i + args.steps])
            for i in range(0, len(per_step), args.steps)
        ]
        out[name] = {
            "ms_per_step": statistics.mean(per_step),
            "ms_per_step_std": statistics.stdev(rounds) if len(rounds) > 1 else 0.0,
            "ms": mean,
            "share": {part: v / sum(mean.values()) for part, v in mean.items()},
            "warmup_seconds": warmup_seconds[name],
        }
    return out


def bench_step(args, device) -> dict:
    """Where a step's time goes at each of STEP_DROPS, in ``--precision``."""
    sides = {f"drop {p:g}": (p, args.precision, args.compile) for p in STEP_DROPS}
    return {"precision": args.precision, **timed_steps(args, device, sides)}


COMPARED_DROPS = (0.0, 0.5)  # the patch dropouts of the precision and compile sides


def bench_precision(args, device) -> dict:
    """The preset's step in fp32 against bf16 autocast, with every patch and with half
    of them dropped: a CPU with bf16 instructions (AVX512-BF16, AMX) may gain."""
    sides = {
        f"{precision}, drop {p:g}": (p, precision, args.compile)
        for p in COMPARED_DROPS
        for precision in PRECISIONS
    }
    out = timed_steps(args, device, sides)
    out["speedup_bf16"] = {
        f"drop {p:g}": out[f"fp32, drop {p:g}"]["ms_per_step"]
        / out[f"bf16, drop {p:g}"]["ms_per_step"]
        for p in COMPARED_DROPS
    }
    return out


def bench_compile(args, device) -> dict:
    """The preset's step eager against ``torch.compile``, with every patch and with
    half of them dropped, in ``--precision``. A compiled side's warm-up holds its
    compilation, which the trainer's ``--compile`` pays for each new shape of batch:
    a patch-dropout run has two in training."""
    sides = {
        f"{mode}, drop {p:g}": (p, args.precision, mode == "compiled")
        for p in COMPARED_DROPS
        for mode in ("eager", "compiled")
    }
    out = {"precision": args.precision, **timed_steps(args, device, sides)}
    out["speedup_compiled"] = {
        f"drop {p:g}": out[f"eager, drop {p:g}"]["ms_per_step"]
        / out[f"compiled, drop {p:g}"]["ms_per_step"]
        for p in COMPARED_DROPS
    }
    return out


def bench_muon(args, device) -> dict:
    torch.manual_seed(0)
    grads = [
        torch.randn_like(p, device=device)
        for n, p in create_model(args.model).named_parameters()
        if is_hidden_matrix(n, p)
    ]
    shapes = {g.shape for g in grads}
    stacks = [torch.stack([g for g in grads if g.shape == s]) for s in shapes]
    sides = {
        "one at a time": lambda: [orthogonalize(g) for g in grads],
        "stacked by shape": lambda: [orthogonalize(x) for x in stacks],
    }
    res = timed_rounds(
        sides,
        args.steps,
        args.rounds,
        args.warmup,
        device,
        dict.fromkeys(sides, 1),
        per="update",
    )
    for side in sides:
        res[side]["ms_per_update"] = 1000 / res[side]["update_per_s_mean"]
    res["matrices"] = len(grads)
    res["shapes"] = sorted(list(s) for s in shapes)
    res["speedup"] = (
        res["stacked by shape"]["update_per_s_mean"]
        / res["one at a time"]["update_per_s_mean"]
    )
    return res


def bench_augment(args, device) -> dict:
    images, labels = load_cifar10(args.data_dir, train=False)
    x8 = images[: args.batch_size].to(device)
    y = labels[: args.batch_size].to(device)
    g = torch.Generator().manual_seed(0)
    ops = {
        "crop+flip": lambda: random_flip(random_crop(x8, 4)),
        "normalize": lambda: normalize(x8),
        "mixup/cutmix": lambda: mix_batch(normalize(x8), y, 10, 0.8, 1.0, 0.1, g),
        "randaugment": lambda: policy_augment(x8, "randaugment"),
        "autoaugment": lambda: policy_augment(x8, "autoaugment"),
    }
    out = {}
    for name, op in ops.items():
        op()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            op()
        sync(device)
        out[name] = {
            "ms_per_batch": 1000 * (time.perf_counter() - t0) / args.steps,
            "batch_size": args.batch_size,
        }
    return out


BENCHES = {
    "pipeline": bench_pipeline,
    "timm": bench_timm,
    "augment": bench_augment,
    "patch-drop": bench_patch_drop,
    "muon": bench_muon,
    "step": bench_step,
    "precision": bench_precision,
    "compile": bench_compile,
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m vit_core.bench", description=__doc__.splitlines()[0]
    )
    p.add_argument("what", nargs="+", choices=list(BENCHES))
    p.add_argument("--model", default="vit_tiny")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32")
    p.add_argument(
        "--compile", action="store_true", help="torch.compile the model (not in muon)"
    )
    p.add_argument(
        "--autoaugment", choices=["none", "autoaugment", "randaugment"], default="none"
    )
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers of the baseline"
    )
    p.add_argument("--threads", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-dir")
    p.add_argument("--out", required=True, help="JSON file for the results")
    args = p.parse_args(argv)
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        device = resolve_device(args.device)
        result = {
            "command": command_line("vit_core.bench", argv),
            **environment(device),
            "model": args.model,
            "steps_per_round": args.steps,
            "rounds": args.rounds,
        }
        for what in args.what:
            result[what] = BENCHES[what](args, device)
            print(what, result[what], file=sys.stderr)
    except (VitCoreError, ValueError) as e:
        sys.exit(f"error: {e}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
