"""Ship a trained run as a package checkpoint: ``python -m vit_core.ship runs/X --name
vit_laptop``.

Casts the weights to fp16 (half the size), re-evaluates the fp16 weights on the test
set, and refuses to ship if that costs more than ``--max-drop`` accuracy. Writes
``vit_core/checkpoints/NAME.safetensors``, its JSON card and a readable ``NAME.md``
card.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

from .checkpoint import load_checkpoint, save_checkpoint
from .data import DeviceLoader, load_cifar10
from .errors import VitCoreError
from .evaluate import evaluate
from .pretrained import CHECKPOINT_DIR
from .runinfo import command_line


def model_card(name: str, card: dict) -> str:
    r = card["recipe"]
    flags = " ".join(
        f"{k}={v}" for k, v in sorted(r.items()) if v is not None and v is not False
    )
    held_out = (
        f", {r['val_split']:,} training images held out" if r.get("val_split") else ""
    )
    rows = [
        ("test accuracy (shipped weights)", f"{card['test_accuracy'] * 100:.2f}%"),
        (
            "test accuracy (fp32 weights, at the end of training)",
            f"{card['fp32_test_accuracy'] * 100:.2f}%",
        ),
        ("data", f"{card['data']}{held_out}; accuracy on its test images"),
        ("parameters", f"{card['params']:,}"),
        ("hardware", card["hardware"]),
        (
            "training time",
            f"{card['train_seconds']:.0f} s of training wall time "
            f"({card['epoch']} epochs)",
        ),
        ("command", f"`{card['command']}`"),
        ("commit", f"`{card['commit']}`"),
        ("weights", f"`{name}.safetensors`, {card['weights_dtype']}"),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    return (
        f"# {name}\n\nA `{card['model']}` trained from scratch by this repository's "
        f"own trainer (`vit_core.train`).\n\n| | |\n| --- | --- |\n{table}\n\n"
        f"Recipe: {flags}\n\nModel config: `{card['config']}`\n\n"
        f"Reproduce the accuracy: `python -m vit_core.evaluate --checkpoint "
        f"vit_core/checkpoints/{name}.safetensors`\n"
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m vit_core.ship", description=__doc__.splitlines()[0]
    )
    p.add_argument("run", help="a run folder (or its checkpoint.safetensors)")
    p.add_argument(
        "--name", required=True, help="name of the shipped checkpoint, e.g. vit_laptop"
    )
    p.add_argument("--data-dir")
    p.add_argument(
        "--max-drop",
        type=float,
        default=0.0005,
        help="largest accuracy loss allowed for fp16",
    )
    p.add_argument("--dest", default=str(CHECKPOINT_DIR))
    args = p.parse_args(argv)
    try:
        model, card = load_checkpoint(args.run)
        images, labels = load_cifar10(args.data_dir, train=False)
        loader = DeviceLoader(images, labels, 500, "cpu", train=False)
        fp32 = evaluate(model, loader, torch.device("cpu"))["accuracy"]
        rounded = copy.deepcopy(model)
        rounded.load_state_dict(
            {
                k: v.half().float() if v.is_floating_point() else v
                for k, v in model.state_dict().items()
            }
        )
        fp16 = evaluate(rounded, loader, torch.device("cpu"))["accuracy"]
        # else fp16 costs too much: keep fp32
        dtype = torch.float16 if fp32 - fp16 <= args.max_drop else None
        dest = Path(args.dest) / f"{args.name}.safetensors"
        save_checkpoint(
            model,
            dest,
            {
                **card,
                "test_accuracy": fp16 if dtype else fp32,
                "fp32_test_accuracy": fp32,
                "shipped_by": command_line("vit_core.ship", argv),
            },
            dtype=dtype,
        )
    except (VitCoreError, ValueError) as e:
        sys.exit(f"error: {e}")
    final = load_checkpoint(dest)[1]
    dest.with_suffix(".md").write_text(model_card(args.name, final))
    print(
        f"shipped {dest} ({final['weights_dtype']}): test accuracy "
        f"{final['test_accuracy'] * 100:.2f}% "
        f"(fp32 {fp32 * 100:.2f}%)"
    )


if __name__ == "__main__":
    main()
