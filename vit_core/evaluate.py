"""Evaluate a checkpoint: ``python -m vit_core.evaluate --checkpoint PATH``.

Prints the test accuracy, the accuracy of each class and the confusion matrix. With
``--split train``, the same on the 50,000 training images (un-augmented): the gap
between the two is how far the model overfits.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .data import CLASSES, DeviceLoader, load_cifar10
from .errors import VitCoreError
from .precision import autocast


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader,
    device: torch.device,
    precision: str = "fp32",
    num_classes: int = 10,
    flip: bool = False,
) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix (rows: truth, columns:
    prediction). With ``flip``, the logits of each image and its mirror image are
    summed (test-time augmentation: twice the compute)."""
    was_training = model.training
    model.eval()
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long, device=device)
    for x, y in loader:
        with autocast(device, precision):
            logits = model(x)
            if flip:
                logits = logits + model(x.flip(3))
            pred = logits.argmax(dim=1)
        confusion += torch.bincount(
            y * num_classes + pred, minlength=num_classes**2
        ).view(num_classes, num_classes)
    model.train(was_training)
    confusion = confusion.cpu()
    per_class = (confusion.diag() / confusion.sum(1).clamp(min=1)).tolist()
    return {
        "accuracy": confusion.diag().sum().item() / max(confusion.sum().item(), 1),
        "per_class_accuracy": dict(zip(CLASSES, per_class)),
        "confusion": confusion.tolist(),
    }


def format_report(result: dict, split: str = "test") -> str:
    lines = [
        f"{split} accuracy: {result['accuracy'] * 100:.2f}%",
        "",
        "per-class accuracy:",
    ]
    lines += [
        f"  {name:10s} {acc * 100:6.2f}%"
        for name, acc in result["per_class_accuracy"].items()
    ]
    lines += [
        "",
        "confusion matrix (rows: true class, columns: predicted):",
        "           " + " ".join(f"{c[:5]:>5s}" for c in CLASSES),
    ]
    lines += [
        f"{CLASSES[i]:10s} " + " ".join(f"{n:5d}" for n in row)
        for i, row in enumerate(result["confusion"])
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    from .checkpoint import load_checkpoint
    from .pretrained import resolve_checkpoint
    from .runinfo import resolve_device

    p = argparse.ArgumentParser(
        prog="python -m vit_core.evaluate", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--checkpoint",
        required=True,
        help="a .safetensors file (with its .json card), a run folder or the name of "
        "a shipped checkpoint",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding cifar-10-batches-py/ (default: $VIT_CORE_DATA)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download CIFAR-10 with torchvision if it is missing",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument(
        "--flip",
        action="store_true",
        help="average each image with its mirror image (test-time augmentation)",
    )
    p.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="the images to evaluate on (train: the training images, un-augmented)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    try:
        device = resolve_device(args.device)
        model, card = load_checkpoint(resolve_checkpoint(args.checkpoint), device)
        images, labels = load_cifar10(
            args.data_dir, train=args.split == "train", download=args.download
        )
        result = evaluate(
            model,
            DeviceLoader(images, labels, args.batch_size, device, train=False),
            device,
            flip=args.flip,
        )
    except (VitCoreError, ValueError) as e:
        sys.exit(f"error: {e}")
    if args.json:
        print(json.dumps(result))
    else:
        tta = " with flip averaging" if args.flip else ""
        print(f"checkpoint: {args.checkpoint} ({card['model']}){tta}")
        print(format_report(result, args.split))


if __name__ == "__main__":
    main()
