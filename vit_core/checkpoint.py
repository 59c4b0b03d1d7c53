"""Checkpoints: weights as safetensors (no code can run on load) beside a JSON card.

A checkpoint is two files with one stem: ``NAME.safetensors`` and ``NAME.json``. The
card holds the model name and config (enough to rebuild the model), the recipe, the
epoch and the accuracy. A training run also keeps ``train_state.pt`` (optimizer,
schedule position, RNG) beside them for ``--resume``. Files are written to temporary
names and renamed, all of a checkpoint's together, so neither a crash nor a full disk
leaves half a checkpoint.
"""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from pathlib import Path

import torch
import torch.nn as nn

from .config import read_run_config, run_folder
from .errors import CheckpointError
from .registry import create_model

CARD_VERSION = 1


def write_together(files: dict[Path, bytes]) -> None:
    """Write each file to a temporary name beside it, then rename them all over their
    targets: a failure while writing leaves every earlier file as it was, and no
    temporary file behind."""
    temps = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            temps.append(Path(tmp))
            # mkstemp makes files private; checkpoints are meant to be shared
            os.chmod(tmp, 0o644)
            with open(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # a full disk may only say so here
        # renaming over an existing name takes no space, so once every file is
        # written a full disk cannot stop the renames half way
        for tmp, path in zip(temps, files):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def json_bytes(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def atomic_write_json(path, obj) -> None:
    write_together({Path(path): json_bytes(obj)})


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(weights, card) for a checkpoint given as its .safetensors file, its .json card,
    or its run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(
    model: nn.Module,
    path,
    card: dict,
    dtype: torch.dtype | None = None,
    train_state: dict | None = None,
) -> None:
    """Write the weights (optionally cast, e.g. to fp16 for shipping) and the card, and
    with ``train_state`` the run's ``train_state.pt`` beside them. Either all of them
    are replaced or, when a write fails (a full disk), none."""
    from safetensors.torch import save

    weights, card_path = checkpoint_paths(path)
    state = {
        k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v)
        .detach()
        .cpu()
        .contiguous()
        for k, v in model.state_dict().items()
    }
    card = {
        "card_version": CARD_VERSION,
        **card,
        "weights_dtype": str(dtype or next(iter(state.values())).dtype),
    }
    # serialized here and written by write_together, as safetensors and torch.save
    # turn a full disk into errors of their own that do not say so
    files = {
        weights: save(state, metadata={"format": "pt"}),
        card_path: json_bytes(card),
    }
    if train_state is not None:
        buffer = io.BytesIO()
        torch.save(train_state, buffer)
        files[weights.parent / "train_state.pt"] = buffer.getvalue()
    try:
        write_together(files)
    except OSError as e:
        raise save_failed(weights, e) from None


def save_failed(weights: Path, e: OSError) -> CheckpointError:
    full = e.errno in (errno.ENOSPC, errno.EDQUOT)
    cause = "the disk is full" if full else f"the save failed ({e.strerror or e})"
    kept = (
        "the previous checkpoint and its card are intact"
        if weights.is_file()
        else "no checkpoint was written"
    )
    return CheckpointError(f"could not save the checkpoint {weights}: {cause}; {kept}")


def read_card(path) -> dict:
    _, card_path = checkpoint_paths(path)
    if not card_path.is_file():
        raise CheckpointError(f"checkpoint card {card_path} is missing")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint card {card_path} is corrupt ({e})") from None
    if not isinstance(card, dict) or "model" not in card or "config" not in card:
        raise CheckpointError(
            f"checkpoint card {card_path} lacks the model name or config"
        )
    return card


def read_weights(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    weights, _ = checkpoint_paths(path)
    if not weights.is_file():
        raise CheckpointError(f"checkpoint weights {weights} are missing")
    try:
        return load_file(str(weights))
    except (
        Exception
    ) as e:  # safetensors raises its own error types for bad headers and short files
        raise CheckpointError(
            f"checkpoint weights {weights} are truncated or corrupt ({e})"
        ) from None


def load_into(
    model: nn.Module, state: dict[str, torch.Tensor], source, mismatch: str
) -> None:
    """Load a state dict; a mismatch raises ``mismatch``, followed by what differs."""
    own = model.state_dict()
    shapes_differ = [k for k in state if k in own and own[k].shape != state[k].shape]
    missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if shapes_differ or missing or extra:
        detail = (
            f"{len(missing)} missing, {len(extra)} unexpected, "
            f"{len(shapes_differ)} of another shape"
            + (f" (e.g. {(shapes_differ + missing + extra)[0]})")
        )
        raise CheckpointError(f"{mismatch}: {detail}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_checkpoint(path, device="cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint describes and load its weights (cast to fp32).
    Returns (model, card)."""
    card = read_card(path)
    try:
        model = create_model(card["model"], **card["config"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(
            f"checkpoint {path} describes a model that cannot be built: {e}"
        ) from None
    load_into(
        model,
        read_weights(path),
        path,
        f"the weights in {checkpoint_paths(path)[0]} do not fit the {card['model']} "
        f"that its card describes",
    )
    return model.to(device).eval(), card


# ---- run folders: config.json (the TrainConfig) and train_state.pt (where the run
# stands)
def start_run_folder(out, cfg) -> None:
    """Create ``out`` for a new run and write its config. A folder whose run saved a
    checkpoint is refused; one that stopped before its first starts over."""
    out = Path(out)
    if (out / "train_state.pt").exists():
        raise CheckpointError(
            f"{out} already holds a run: continue it with --resume {out}, "
            f"or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.jsonl").unlink(missing_ok=True)
    atomic_write_json(out / "config.json", cfg.to_json())


def read_train_state(path) -> dict:
    folder = run_folder(path)
    state_path = folder / "train_state.pt"
    if not state_path.is_file():
        raise CheckpointError(
            f"nothing to resume yet: {folder} has no checkpoint (a run saves one at "
            f"the end of each epoch, and this one stopped before its first). Start it "
            f"again: "
            f"{read_run_config(folder).command()}"
        )
    read_weights(
        folder / "checkpoint.safetensors"
    )  # a damaged file fails here, with its name
    try:
        return torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(
            f"training state {state_path} is truncated or corrupt ({type(e).__name__})"
        ) from None
