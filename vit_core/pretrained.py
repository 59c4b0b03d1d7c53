"""Checkpoints shipped with the package, trained by this repo's own code (each has a
JSON card)."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import load_checkpoint, read_card
from .errors import CheckpointError

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
DEFAULT = "vit_laptop"  # trained on a 2-core CPU in 15 minutes; see its card


def shipped() -> list[str]:
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.safetensors"))


def pretrained_path(name: str = DEFAULT) -> Path:
    path = CHECKPOINT_DIR / f"{name}.safetensors"
    if not path.is_file():
        raise CheckpointError(
            f"no shipped checkpoint named {name!r}; shipped: "
            f"{', '.join(shipped()) or 'none'}"
        )
    return path


def load_pretrained(name: str = DEFAULT, device="cpu"):
    """(model in eval mode, card) of a shipped checkpoint."""
    return load_checkpoint(pretrained_path(name), device)


def pretrained_card(name: str = DEFAULT) -> dict:
    return read_card(pretrained_path(name))
