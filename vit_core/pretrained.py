"""Checkpoints shipped with the package, trained by this repo's own code (each has a
JSON card). ``choices()`` names them, each with its accuracy and training time."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import load_checkpoint, read_card
from .errors import CheckpointError

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
# The plain ViT of notebooks 1-4, which the attention chapters study first; its card
# says how it was trained.
DEFAULT = "vit_laptop_cls"


def shipped() -> list[str]:
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.safetensors"))


def describe(card: dict) -> str:
    """One line of a card: the model, its test accuracy and how it was trained."""
    return (
        f"{card['model']}, {card['test_accuracy'] * 100:.2f}% test accuracy after "
        f"{card['train_seconds'] / 60:.0f} min of training on {card['hardware']}"
    )


def choices() -> dict[str, str]:
    """{name: a line describing it} for every shipped checkpoint."""
    return {
        name: describe(read_card(CHECKPOINT_DIR / f"{name}.safetensors"))
        for name in shipped()
    }


def pretrained_path(name: str = DEFAULT) -> Path:
    path = CHECKPOINT_DIR / f"{name}.safetensors"
    if not path.is_file():
        listed = "; ".join(f"{k} ({v})" for k, v in choices().items())
        raise CheckpointError(
            f"no shipped checkpoint named {name!r}; choose one of: {listed or 'none'}"
        )
    return path


def resolve_checkpoint(checkpoint: str | None) -> Path:
    """What a ``--checkpoint`` flag names: a file or run folder, the name of a shipped
    checkpoint, or (None) the default one."""
    if checkpoint is None:
        return pretrained_path()
    if not Path(checkpoint).exists() and checkpoint in shipped():
        return pretrained_path(checkpoint)
    return Path(checkpoint)


def add_checkpoint_flag(parser) -> None:
    """``--checkpoint``, read by :func:`resolve_checkpoint`."""
    parser.add_argument(
        "--checkpoint",
        default=None,
        help=f"a .safetensors file, a run folder or a shipped name (default: "
        f"{DEFAULT}; shipped: {', '.join(shipped())})",
    )


def load_pretrained(name: str = DEFAULT, device="cpu"):
    """(model in eval mode, card) of the shipped checkpoint ``name``; ``choices()``
    lists the names."""
    return load_checkpoint(pretrained_path(name), device)


def pretrained_card(name: str = DEFAULT) -> dict:
    return read_card(pretrained_path(name))
