"""The five bugs of the trainer review, one test each. They use only ``parse_args``,
``train`` and the command line, which the trainer had before its rework too, so each can
be run against the old code and seen to fail there."""

import json
import socket
import subprocess
import sys

import pytest
import torch
from conftest import argv

from vit_core.checkpoint import load_checkpoint, save_checkpoint
from vit_core.errors import CheckpointError
from vit_core.registry import create_model
from vit_core.train import parse_args, train

TINY = "--quiet --threads 1"


def read(path):
    return json.loads(path.read_text())


def test_1_a_time_budget_run_that_reaches_its_epochs_first_still_ends_its_cosine(
    tiny_cifar, tmp_path
):
    # 320 images, batch 64: 5 steps an epoch, 10 in all, long before an hour is up.
    train(parse_args(argv("--preset laptop --epochs 2 --time-budget 1h --batch-size 64",
                          TINY, "--data-dir", tiny_cifar,
                          "--out", tmp_path)))  # fmt: skip
    summary = read(tmp_path / "summary.json")
    assert summary["stopped_by"] == "epochs" and summary["epochs"] == 2
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    # the last step is near the end of the cosine, not at its peak
    assert last["lr"] < 0.1 * parse_args(["--preset", "laptop"]).lr


WORKER = """
import json, os, sys
import torch
import vit_core.train as T

real, lrs, seeds = T.build_optimizer, [], []

def recording(*args, **kwargs):
    opt = real(*args, **kwargs)
    step = opt.step
    def recorded_step(*a, **k):
        lrs.append(opt.param_groups[0]["lr"])
        seeds.append(torch.initial_seed())
        return step(*a, **k)
    opt.step = recorded_step
    return opt

T.build_optimizer = recording
T.train(T.parse_args(sys.argv[1:]))
out = sys.argv[sys.argv.index("--out") + 1]
with open(os.path.join(out, "rank%s.json" % os.environ["RANK"]), "w") as f:
    json.dump({"lrs": lrs, "seed": seeds[0]}, f)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_2_under_ddp_every_process_follows_rank_0s_clock(tiny_cifar, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    command = argv(sys.executable, "-m torch.distributed.run --nproc_per_node=2",
                   f"--master_port={free_port()}", script,
                   "--preset laptop --time-budget 4s --device cpu", TINY,
                   "--data-dir", tiny_cifar, "--out", out)  # fmt: skip
    r = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [read(out / f"rank{i}.json") for i in range(2)]
    # more than an epoch (5 steps of 32 images a process), however fast the machine
    assert len(ranks[0]["lrs"]) > 5
    # the same schedule, to the bit, and the same stop
    assert ranks[0]["lrs"] == ranks[1]["lrs"]
    summary = read(out / "summary.json")
    assert summary["processes"] == 2 and summary["stopped_by"] == "time budget"
    assert summary["steps"] == len(ranks[0]["lrs"])
    # each process draws its own drop-path masks and augmentations
    assert ranks[0]["seed"] != ranks[1]["seed"]


def test_3_a_python_call_records_its_own_command_not_the_kernels(
    tiny_cifar, tmp_path, monkeypatch
):
    kernel = ["ipykernel_launcher.py", "-f", "/tmp/kernel-1234.json"]
    monkeypatch.setattr(sys, "argv", kernel)
    train(parse_args(argv("--debug --epochs 1 --autoaugment none", TINY,
                          "--data-dir", tiny_cifar, "--out", tmp_path)))  # fmt: skip
    command = read(tmp_path / "checkpoint.json")["command"]
    assert "kernel-1234" not in command
    assert command.startswith("python -m vit_core.train") and "--epochs 1" in command


def test_4_train_leaves_the_callers_threads_and_rng_alone(tiny_cifar, tmp_path):
    before_threads = torch.get_num_threads()
    torch.manual_seed(1234)
    before_rng = torch.get_rng_state()
    train(parse_args(argv("--debug --epochs 1 --autoaugment none --quiet --seed 7",
                          f"--threads {before_threads + 1}",
                          "--data-dir", tiny_cifar, "--out", tmp_path)))  # fmt: skip
    assert torch.get_num_threads() == before_threads
    assert torch.equal(torch.get_rng_state(), before_rng)


def test_5_a_card_that_does_not_fit_its_weights_says_so(tmp_path):
    model = create_model("vit_tiny", depth=1, embed_dim=32, num_heads=2)
    card = {"model": "vit_tiny", "config": {**model.cfg.to_dict(), "depth": 2}}
    save_checkpoint(model, tmp_path / "c.safetensors", card)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "c.safetensors")
    message = str(e.value)
    assert "do not fit" in message and "c.safetensors" in message
    assert "but the model is a vit_tiny" not in message
