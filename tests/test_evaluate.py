"""evaluate(): accuracy, per-class accuracy and the confusion matrix against numbers
worked out by hand, its report, and the ``python -m vit_core.evaluate`` command line."""

import json
import os

import pytest
import torch
import torch.nn as nn

from vit_core.checkpoint import load_checkpoint, save_checkpoint
from vit_core.data import (
    BATCH_DIR,
    CLASSES,
    MEAN,
    STD,
    DeviceLoader,
    load_cifar10,
    resolve_data_dir,
)
from vit_core.evaluate import evaluate, format_report, main
from vit_core.registry import create_model

DATA = resolve_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / BATCH_DIR).is_dir() and not os.environ.get("CI"),
    reason=f"no prepared CIFAR-10 at {DATA} (make test prepares it)",
)

# Ten images, evaluated in batches of 4: 4 + 4 + 2, so the last batch is partial and
# holds a wrong prediction (9 -> 3) that a loader dropping it would hide. Rows and
# columns of the confusion matrix have different sums, so they cannot be mixed up.
LABELS = [0, 0, 0, 1, 1, 2, 2, 2, 2, 9]
PREDS = [0, 0, 1, 1, 2, 2, 2, 1, 2, 3]
BATCH = 4


class PixelOracle(nn.Module):
    """Predicts the class written into each image's first pixel (value 20 * class + 5),
    and records the mode it was called in."""

    def __init__(self):
        super().__init__()
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        # Undo normalize() to read the pixel back.
        value = ((x[:, 0, 0, 0] * STD[0] + MEAN[0]) * 255).round().long()
        return nn.functional.one_hot(value // 20, 10).float()


def images_predicted_as(preds):
    images = torch.randint(
        0,
        256,
        (len(preds), 3, 32, 32),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(0),
    )
    images[:, 0, 0, 0] = torch.tensor(preds, dtype=torch.uint8) * 20 + 5
    return images


def hand_result():
    loader = DeviceLoader(
        images_predicted_as(PREDS), torch.tensor(LABELS), BATCH, "cpu", train=False
    )
    assert len(loader) == 3
    return evaluate(PixelOracle(), loader, torch.device("cpu"))


def test_evaluate_counts_every_image_including_the_last_partial_batch():
    result = hand_result()
    assert result["accuracy"] == pytest.approx(6 / 10)
    confusion = torch.tensor(result["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10
    expected = torch.zeros(10, 10, dtype=torch.long)
    expected[0, 0], expected[0, 1] = 2, 1  # airplane: 2 right, 1 called automobile
    expected[1, 1], expected[1, 2] = 1, 1
    expected[2, 2], expected[2, 1] = 3, 1
    expected[9, 3] = 1  # the truck in the last batch, called a cat
    assert torch.equal(confusion, expected)  # rows: truth, columns: prediction
    per_class = result["per_class_accuracy"]
    assert list(per_class) == list(CLASSES)
    assert per_class["airplane"] == pytest.approx(2 / 3)
    assert per_class["automobile"] == pytest.approx(1 / 2)
    assert per_class["bird"] == pytest.approx(3 / 4)
    assert per_class["truck"] == 0.0
    json.dumps(result)  # the CLI prints it as JSON: plain Python numbers only


def test_evaluate_runs_the_model_in_eval_mode_and_restores_its_mode():
    images, labels = images_predicted_as(PREDS), torch.tensor(LABELS)
    for was_training in (True, False):
        model = PixelOracle().train(was_training)
        evaluate(
            model,
            DeviceLoader(images, labels, BATCH, "cpu", train=False),
            torch.device("cpu"),
        )
        assert model.modes == [False, False, False]
        assert model.training is was_training


def test_format_report_shows_the_numbers():
    report = format_report(hand_result())
    lines = report.splitlines()
    assert "test accuracy: 60.00%" in lines
    assert "  airplane    66.67%" in lines
    assert "  automobile  50.00%" in lines
    assert "  bird        75.00%" in lines
    # The matrix starts two lines below its title (the title, then the column names).
    first = next(i for i, line in enumerate(lines) if line.startswith("confusion")) + 2
    row = {
        name: [int(n) for n in counts]
        for name, *counts in (line.split() for line in lines[first:])
    }
    assert list(row) == list(CLASSES)
    assert row["airplane"] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert row["truck"] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]


def save_tiny_model(folder):
    """A one-block ViT, untrained, saved as a run folder's checkpoint."""
    torch.manual_seed(0)
    model = create_model("vit_tiny", depth=1, embed_dim=32, num_heads=2)
    save_checkpoint(
        model,
        folder / "checkpoint.safetensors",
        {"model": "vit_tiny", "config": model.cfg.to_dict()},
    )


@needs_data
def test_cli_json_matches_evaluate_in_process(tmp_path, capsys):
    save_tiny_model(tmp_path)
    main(["--checkpoint", str(tmp_path), "--json", "--device", "cpu"])
    printed = json.loads(capsys.readouterr().out)
    images, labels = load_cifar10(train=False)
    # The CLI's default batch of 500, so the same arithmetic: near-ties break alike.
    expected = evaluate(
        load_checkpoint(tmp_path)[0],
        DeviceLoader(images, labels, 500, "cpu", train=False),
        torch.device("cpu"),
    )
    assert sum(map(sum, printed["confusion"])) == len(labels) == 10_000
    assert printed["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
    assert printed["confusion"] == expected["confusion"]


def test_cli_missing_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["--checkpoint", str(tmp_path / "nowhere.safetensors"), "--device", "cpu"])
    message = str(e.value.code)
    assert message.startswith("error: ") and "nowhere.json" in message
    assert "\n" not in message


def test_format_report_names_its_split():
    lines = format_report(hand_result(), "train").splitlines()
    assert lines[0] == "train accuracy: 60.00%"


@needs_data
def test_cli_split_train_evaluates_the_training_images(tmp_path, capsys):
    save_tiny_model(tmp_path)
    main(["--checkpoint", str(tmp_path), "--split", "train", "--device", "cpu"])
    report = capsys.readouterr().out
    assert "\ntrain accuracy: " in report and "test accuracy" not in report
    main(
        ["--checkpoint", str(tmp_path), "--split", "train", "--json", "--device", "cpu"]
    )
    printed = json.loads(capsys.readouterr().out)
    assert sum(map(sum, printed["confusion"])) == 50_000
