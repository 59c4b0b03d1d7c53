"""Notebook 6's own training: the learner's loop (check_fit) and the learner's ViT
(carry.my_vit), and the predict-then-check answer "tie"."""

from __future__ import annotations

import inspect

import pytest
import torch

from vit_core.course import carry, checks, reference
from vit_core.registry import create_model


def _loop(set_before: bool = True, extra_batch: bool = False):
    def my_fit(model, optimizer, batches, steps, warmup, base_lr, min_lr):
        losses, lrs = [], []
        for step in range(steps):
            x, y = next(batches)
            if extra_batch:
                next(batches)
            lr = reference.lr_schedule(step, steps, warmup, base_lr, min_lr)
            if set_before:
                optimizer.param_groups[0]["lr"] = lr
            losses.append(reference.train_step(model, optimizer, x, y))
            if not set_before:
                optimizer.param_groups[0]["lr"] = lr
            lrs.append(lr)
        return losses, lrs

    return my_fit


def test_check_fit_passes_the_solution_and_says_the_loss_fell(capsys):
    assert checks.check_fit(reference.fit)
    assert "The loss fell from" in capsys.readouterr().out
    assert checks.check_fit(_loop())


@pytest.mark.parametrize(
    "loop, message",
    [
        (_loop(set_before=False), "before the step, not after"),
        (_loop(extra_batch=True), "should take 30 batches"),
        (lambda *args: reference.fit(*args)[0], "return two lists"),
    ],
)
def test_check_fit_names_the_mistake(loop, message):
    with pytest.raises(checks.CheckFailed, match=message):
        checks.check_fit(loop)


def test_my_vit_is_vit_cores_model_on_the_learners_blocks(tmp_path, monkeypatch):
    monkeypatch.setenv("VIT_CORE_MY_CODE", str(tmp_path))
    torch.manual_seed(0)
    mine = carry.my_vit("vit_laptop_cls").eval()
    torch.manual_seed(0)
    ours = create_model("vit_laptop_cls").eval()
    assert all(type(b) is reference.TransformerBlock for b in mine.blocks)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(mine(x), ours(x), atol=1e-5)

    # a saved block that passes its check is the one the model is built from
    source = inspect.getsource(reference.TransformerBlock)
    (tmp_path / "TransformerBlock.py").write_text(
        source.replace("class TransformerBlock", "class MyBlock")
        + "\nTransformerBlock = MyBlock\n"
    )
    assert type(carry.my_vit("vit_laptop_cls").blocks[0]).__name__ == "MyBlock"


def test_a_tie_can_be_predicted(capsys):
    scores = {"a": 21.0, "b": 20.0}
    assert checks.reveal("tie", ["a", "b"], scores, 5.0) is None
    assert "a tie" in capsys.readouterr().out.split("Measured:")[1]
    assert checks.reveal("a", ["a", "b"], scores, 5.0) is None
    assert "can neither confirm nor refute" in capsys.readouterr().out
    assert checks.reveal("tie", ["a", "b"], {"a": 30.0, "b": 20.0}, 5.0) == "a"
    assert "says otherwise" in capsys.readouterr().out
