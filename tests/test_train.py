"""The trainer end to end on the prepared CIFAR-10 copy: debug run, resume, DDP, time budget, bad input."""
import json
import os
import re
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from vit_core.data import BATCH_DIR, resolve_data_dir
from vit_core.train import NonFiniteLoss, parse_args, train

DATA = resolve_data_dir()
pytestmark = pytest.mark.skipif(
    not (DATA / BATCH_DIR).is_dir() and not os.environ.get("CI"),
    reason=f"no prepared CIFAR-10 at {DATA} (make test prepares it)")
FAST = ["--debug", "--quiet", "--threads", "1", "--autoaugment", "none"]


def cli(*args, module="vit_core.train"):
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600)


def test_debug_run_end_to_end(tmp_path):
    r = cli("--debug", "--quiet", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["epochs"] == 2 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert summary["data"] == "CIFAR-10 (JPEG copy)" and "--debug" in summary["command"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
    card = json.loads((tmp_path / "checkpoint.json").read_text())
    assert card["model"] == "vit_tiny" and card["epoch"] == 2
    r = cli("--checkpoint", str(tmp_path), module="vit_core.evaluate")
    assert r.returncode == 0, r.stderr
    assert re.search(r"^test accuracy: \d+\.\d\d%$", r.stdout, re.M)  # on all 10,000 test images
    assert "confusion matrix" in r.stdout and "airplane" in r.stdout


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    # Mixing and drop-path make the run consume random numbers, so the RNG state must survive the resume.
    recipe = FAST + ["--model", "vit_laptop", "--epochs", "2", "--mixup-alpha", "0.5", "--cutmix-alpha", "1.0",
                     "--drop-path", "0.1", "--eval-every", "0"]
    train(parse_args(recipe + ["--out", str(tmp_path / "straight")]))
    train(parse_args(recipe + ["--out", str(tmp_path / "split"), "--stop-after", "1"]))
    assert json.loads((tmp_path / "split" / "checkpoint.json").read_text())["epoch"] == 1
    train(parse_args(recipe + ["--resume", str(tmp_path / "split")]))
    a = load_file(tmp_path / "straight" / "checkpoint.safetensors")
    b = load_file(tmp_path / "split" / "checkpoint.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_ddp_with_two_gloo_processes(tmp_path):
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29561",
                        "-m", "vit_core.train", *FAST, "--device", "cpu", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["processes"] == 2
    # 512 debug images, global batch 64 split over 2 ranks: 8 steps per epoch on each.
    assert summary["steps"] == 16


def test_time_budget_ends_on_time_and_keeps_its_results(tmp_path):
    r = cli("--preset", "laptop", "--time-budget", "20s", "--quiet", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stopped_by"] == "time budget"
    assert 19.5 <= summary["train_seconds"] <= 23.0
    assert (tmp_path / "checkpoint.safetensors").is_file()
    lrs = [json.loads(line)["lr"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lrs[-1] < 1e-4  # the cosine reached its end when the time ran out


def test_non_finite_loss_stops_at_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    import vit_core.train as T

    real_create = T.create_model
    calls = {"n": 0}

    def poisoned(*a, **kw):
        model = real_create(*a, **kw)
        forward = model.forward

        def forward_with_nan(x):
            if model.training:
                calls["n"] += 1
                if calls["n"] == 11:  # step 11 = the 3rd step of epoch 2 (8 steps per debug epoch)
                    return forward(x) * float("nan")
            return forward(x)

        model.forward = forward_with_nan
        return model

    monkeypatch.setattr(T, "create_model", poisoned)
    with pytest.raises(NonFiniteLoss, match="step 11 \\(epoch 2\\)"):
        train(parse_args(FAST + ["--mixup-alpha", "0", "--cutmix-alpha", "0", "--out", str(tmp_path)]))
    assert json.loads((tmp_path / "checkpoint.json").read_text())["epoch"] == 1


def make_checkpoint(tmp_path, model="vit_tiny"):
    out = tmp_path / model
    r = cli(*FAST, "--model", model, "--epochs", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def assert_one_line_error(r, *words):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize("args, words", [
    (["--model", "vit_huge"], ["unknown model 'vit_huge'"]),
    (["--epochs", "0"], ["--epochs", "0"]),
    (["--patch-size", "5"], ["patch size 5", "32"]),
    (["--data-dir", "/nonexistent/cifar"], ["/nonexistent/cifar", "--download"]),
    (["--time-budget", "soon"], ["duration", "soon"]),
])
def test_bad_training_input_is_one_clear_line(tmp_path, args, words):
    assert_one_line_error(cli(*FAST, "--out", str(tmp_path), *args), *words)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_checkpoint_is_named_by_resume_and_evaluate(tmp_path, damage):
    run = make_checkpoint(tmp_path)
    weights = run / "checkpoint.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000] if damage == "truncate" else b"\x00garbage" * 100)
    assert_one_line_error(cli(*FAST, "--resume", str(run)), "checkpoint.safetensors", "truncated or corrupt")
    assert_one_line_error(cli("--checkpoint", str(run), module="vit_core.evaluate"),
                          "checkpoint.safetensors", "truncated or corrupt")


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    run = make_checkpoint(tmp_path, model="vit_laptop")
    assert_one_line_error(cli(*FAST, "--model", "vit_tiny", "--resume", str(run)), "vit_laptop", "vit_tiny")
    # A card that lies about the weights: the shapes give it away.
    card = json.loads((run / "checkpoint.json").read_text())
    card["model"], card["config"] = "vit_tiny", {}
    (run / "checkpoint.json").write_text(json.dumps(card))
    assert_one_line_error(cli("--checkpoint", str(run), module="vit_core.evaluate"), "vit_tiny")


def test_shipped_checkpoint_reproduces_its_recorded_accuracy():
    from vit_core.pretrained import pretrained_card, pretrained_path, shipped

    for name in shipped():
        r = cli("--checkpoint", str(pretrained_path(name)), "--json", module="vit_core.evaluate")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["accuracy"] == pytest.approx(pretrained_card(name)["test_accuracy"], abs=1e-4)
