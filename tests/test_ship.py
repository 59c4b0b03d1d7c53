"""``python -m vit_core.ship``: fp16 weights whose card states their own test accuracy,
fp32 kept when rounding to fp16 costs more than --max-drop, and one-line errors. Each
test builds its own run folder and a small test set in CIFAR-10's layout (seconds)."""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vit_core.checkpoint import load_checkpoint, save_checkpoint
from vit_core.data import BATCH_DIR, DeviceLoader, load_cifar10
from vit_core.evaluate import evaluate
from vit_core.model import count_params
from vit_core.registry import create_model
from vit_core.ship import main

# 64 test images: 30 automobiles (class 1), 20 airplanes (class 0), 14 dogs (class 5).
LABELS = [1] * 30 + [0] * 20 + [5] * 14
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def data_dir(tmp_path):
    """A test set only: shipping never reads the training batches."""
    folder = tmp_path / "data" / BATCH_DIR
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batch = {
        b"data": rng.integers(0, 256, (len(LABELS), 3072), dtype=np.uint8),
        b"labels": LABELS,
        b"filenames": [b"img.png"] * len(LABELS),
    }
    with open(folder / "test_batch", "wb") as f:
        pickle.dump(batch, f)
    return folder.parent


def tiny_model():
    torch.manual_seed(0)
    return create_model("vit_tiny", depth=1, embed_dim=32, num_heads=2)


def fp16_flips_to_airplane():
    """A model that says 'automobile' in fp32 and 'airplane' in fp16, for any image.

    Its logits are the head's bias: automobile's 1.0004 beats airplane's 1.0 in fp32,
    but rounds to 1.0 in fp16 (whose step near 1 is 1/1024), and argmax breaks the tie
    towards the first class."""
    model = tiny_model()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
        model.head.bias[0], model.head.bias[1] = 1.0, 1.0004
    return model


def make_run(tmp_path, model):
    """A run folder as the trainer leaves it: checkpoint.safetensors and its card."""
    run = tmp_path / "run"
    recipe = {
        "epochs": 1,
        "lr": 0.001,
        "ema": False,
        "compile": False,
        "mixup_alpha": None,
    }
    save_checkpoint(
        model,
        run / "checkpoint.safetensors",
        {
            "model": "vit_tiny",
            "config": model.cfg.to_dict(),
            "recipe": recipe,
            "data": "CIFAR-10",
            "hardware": "a test CPU, 1 thread",
            "params": count_params(model),
            "train_seconds": 12.3,
            "epoch": 1,
            "command": "python -m vit_core.train --epochs 1",
            "commit": COMMIT,
            "test_accuracy": 0.5,
            "weights": "raw",
        },
    )
    return run


def ship(run, data_dir, dest, *extra, name="vit_test"):
    main(
        [
            str(run),
            "--name",
            name,
            "--data-dir",
            str(data_dir),
            "--dest",
            str(dest),
            *extra,
        ]
    )
    return dest / f"{name}.safetensors", json.loads((dest / f"{name}.json").read_text())


def accuracy(model, data_dir):
    images, labels = load_cifar10(data_dir, train=False)
    return evaluate(
        model,
        DeviceLoader(images, labels, 500, "cpu", train=False),
        torch.device("cpu"),
    )["accuracy"]


def float_dtypes(weights):
    return {v.dtype for v in load_file(weights).values() if v.is_floating_point()}


def test_ship_writes_fp16_weights_and_cards_stating_their_accuracy(
    tmp_path, data_dir, capsys
):
    model = tiny_model()
    dest = tmp_path / "shipped"
    weights, card = ship(make_run(tmp_path, model), data_dir, dest)
    assert float_dtypes(weights) == {torch.float16}
    assert card["weights_dtype"] == "torch.float16"
    shipped, _ = load_checkpoint(weights)
    assert card["test_accuracy"] == accuracy(shipped, data_dir)
    assert card["fp32_test_accuracy"] == accuracy(model, data_dir)
    # The training card travels with the weights; only the accuracy is replaced.
    assert card["commit"] == COMMIT
    assert card["params"] == count_params(model) and card["epoch"] == 1
    shown = f"{card['test_accuracy'] * 100:.2f}%"
    markdown = (dest / "vit_test.md").read_text()
    assert markdown.startswith("# vit_test\n")
    assert f"| test accuracy (shipped weights) | {shown} |" in markdown
    assert "Recipe: epochs=1 lr=0.001\n" in markdown  # False and None flags left out
    assert f"test accuracy {shown}" in capsys.readouterr().out


def test_ship_keeps_fp32_when_fp16_costs_more_than_max_drop(tmp_path, data_dir):
    run = make_run(tmp_path, fp16_flips_to_airplane())
    weights, card = ship(run, data_dir, tmp_path / "default")
    assert float_dtypes(weights) == {torch.float32}
    assert card["test_accuracy"] == card["fp32_test_accuracy"] == 30 / 64
    markdown = (tmp_path / "default" / "vit_test.md").read_text()
    assert "| test accuracy (shipped weights) | 46.88% |" in markdown

    # Allowing the drop of 10/64 ships fp16, with the accuracy it really has.
    weights, card = ship(run, data_dir, tmp_path / "lenient", "--max-drop", "0.2")
    assert float_dtypes(weights) == {torch.float16}
    assert card["test_accuracy"] == 20 / 64 and card["fp32_test_accuracy"] == 30 / 64
    assert accuracy(load_checkpoint(weights)[0], data_dir) == 20 / 64


def test_max_drop_below_zero_always_keeps_fp32(tmp_path, data_dir):
    # This model loses nothing in fp16; a negative allowance still refuses it.
    model = tiny_model()
    weights, card = ship(
        make_run(tmp_path, model), data_dir, tmp_path / "shipped", "--max-drop", "-1"
    )
    assert float_dtypes(weights) == {torch.float32}
    assert card["weights_dtype"] == "torch.float32"
    assert card["test_accuracy"] == card["fp32_test_accuracy"]
    assert card["fp32_test_accuracy"] == accuracy(model, data_dir)
    assert torch.equal(load_file(weights)["head.weight"], model.head.weight.detach())


def test_missing_run_folder_is_a_one_line_error(tmp_path):
    missing = tmp_path / "no_such_run"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "vit_core.ship",
            str(missing),
            "--name",
            "x",
            "--dest",
            str(tmp_path / "dest"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and str(missing) in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "dest").exists()
