"""Every checkpoint shipped in vit_core/checkpoints/ reproduces the test accuracy its
card states, through the command its card names (``python -m vit_core.evaluate``), and
its readable card says what it is."""

import json

import pytest

from vit_core.config import PRESETS, TrainConfig
from vit_core.evaluate import main
from vit_core.pretrained import CHECKPOINT_DIR, pretrained_card, shipped


@pytest.mark.parametrize("name", shipped())
def test_the_shipped_weights_reproduce_their_card(name, capsys):
    card = pretrained_card(name)
    main(["--checkpoint", name, "--json", "--device", "cpu"])
    measured = json.loads(capsys.readouterr().out)["accuracy"]
    assert measured == pytest.approx(card["test_accuracy"], abs=1e-9)


@pytest.mark.parametrize("name", shipped())
def test_each_shipped_checkpoint_has_a_readable_card(name):
    card, text = pretrained_card(name), (CHECKPOINT_DIR / f"{name}.md").read_text()
    assert f"{card['test_accuracy'] * 100:.2f}%" in text
    for part in ("hardware", "training time", "command", "commit", "Recipe"):
        assert part in text, f"{name}.md says nothing of its {part}"


def test_the_distillation_teacher_and_students_are_shipped():
    students = {
        "vit_laptop_cls_e5",
        "vit_laptop_cls_e5_taught",
        "vit_laptop_cls_taught",
    }
    assert {"airnet_teacher"} | students <= set(shipped())
    for name in ("vit_laptop_cls_e5_taught", "vit_laptop_cls_taught"):
        assert pretrained_card(name)["teacher"]["checkpoint"] == "airnet_teacher"
    assert (
        pretrained_card("vit_laptop_cls_taught")["teacher"]["cache"]["images"] == 50_000
    )


def test_the_teacher_was_trained_by_its_preset_and_clears_its_bar():
    card = pretrained_card("airnet_teacher")
    preset = {k: v for k, v in PRESETS["teacher"].recipe().items() if k != "val_split"}
    # a field newer than the card trained at its default
    recipe = TrainConfig().recipe() | card["recipe"]
    assert {k: recipe[k] for k in preset} == preset
    # a teacher for the plain ViT's 84% goal must be 3 points better (issue 36)
    assert card["test_accuracy"] >= 0.87
