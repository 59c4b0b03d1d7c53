"""Run folders that cannot be corrupted: one live run at a time writes a folder (its
``run.lock`` names it), and a save that fails, as on a full disk, leaves the previous
checkpoint as it was and stops the run with one clear error. The tests use only the
trainer, ``save_checkpoint`` and the lock file's format, so each fails on the code
before the lock and the grouped save."""

import errno
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import nullcontext

import pytest
import torch
from conftest import argv
from test_train import FAST, assert_one_line_error, cli, fast_run

import vit_core.train as T
from vit_core.checkpoint import load_checkpoint, save_checkpoint
from vit_core.errors import CheckpointError
from vit_core.registry import create_model

LOCK = "run.lock"
CHECKPOINT = {"checkpoint.safetensors", "checkpoint.json"}
TINY_VIT = "--depth 1 --embed-dim 32 --num-heads 2"  # a tenth of a second an epoch
SMALL = f"{FAST} {TINY_VIT}"


def fail_fsync(monkeypatch, name: str, at: int = 1) -> None:
    """Make the ``at``-th fsync of a temporary file for ``name`` fail as a full disk
    does (a file system that allocates late reports ENOSPC there)."""
    real, count = os.fsync, {"n": 0}

    def fsync(fd):
        if f".{name}." in os.path.basename(os.readlink(f"/proc/self/fd/{fd}")):
            count["n"] += 1
            if count["n"] == at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def write_lock(folder, pid: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lock = {"pid": pid, "host": socket.gethostname()}
    (folder / LOCK).write_text(json.dumps(lock))


def test_a_second_run_into_a_folder_a_live_run_holds_is_refused(tiny_cifar, tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "vit_core.train",
         *argv(SMALL, "--epochs 100000 --data-dir", tiny_cifar, "--out", run)],
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while not (run / "config.json").exists():
            assert first.poll() is None and time.time() < deadline
            time.sleep(0.05)
        second = cli(*argv(SMALL, "--data-dir", tiny_cifar, "--out", run))
        assert first.poll() is None  # still training: the refusal was about it
        assert_one_line_error(second, "in use", f"pid {first.pid}", str(run))
        assert json.loads((run / LOCK).read_text())["pid"] == first.pid
    finally:
        first.kill()
        first.wait()


def test_a_stale_lock_of_a_run_that_died_is_taken_over(tiny_cifar, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(tmp_path, dead.pid)
    summary = fast_run(tiny_cifar, tmp_path, TINY_VIT + " --epochs 1")
    assert summary["epochs"] == 1
    assert "taking over" in capsys.readouterr().err
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("ending", ["normally", "by an exception"])
def test_the_lock_is_held_during_a_run_and_released_after_it(
    tiny_cifar, tmp_path, monkeypatch, ending
):
    real, holders = T.evaluate_all, []

    def watching(*args, **kwargs):
        holders.append(json.loads((tmp_path / LOCK).read_text())["pid"])
        if ending != "normally":
            raise RuntimeError("stopped by the test")
        return real(*args, **kwargs)

    monkeypatch.setattr(T, "evaluate_all", watching)
    failing = ending != "normally"
    with pytest.raises(RuntimeError, match="by the test") if failing else nullcontext():
        fast_run(tiny_cifar, tmp_path, TINY_VIT + " --epochs 1")
    assert holders == [os.getpid()]
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("failing", sorted(CHECKPOINT))
def test_a_full_disk_while_saving_leaves_the_previous_checkpoint_intact(
    tmp_path, monkeypatch, failing
):
    model = create_model("vit_tiny", depth=1, embed_dim=32, num_heads=2)
    card = {"model": "vit_tiny", "config": model.cfg.to_dict(), "epoch": 1}
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(model, path, card)
    before = {name: (tmp_path / name).read_bytes() for name in CHECKPOINT}
    with torch.no_grad():
        model.head.weight.add_(1.0)
    fail_fsync(monkeypatch, failing)
    with pytest.raises(CheckpointError) as e:
        save_checkpoint(model, path, card | {"epoch": 2})
    message = str(e.value)
    assert "the disk is full" in message and str(path) in message
    assert "previous checkpoint" in message and "intact" in message
    assert {p.name for p in tmp_path.iterdir()} == CHECKPOINT  # no temporary files
    assert {name: (tmp_path / name).read_bytes() for name in CHECKPOINT} == before


@pytest.mark.parametrize("failing", ["checkpoint.safetensors", "train_state.pt"])
def test_a_full_disk_stops_training_with_one_error_and_the_last_checkpoint_loads(
    tiny_cifar, tmp_path, monkeypatch, failing
):
    fail_fsync(monkeypatch, failing, at=2)  # the save at the end of epoch 2
    with pytest.raises(SystemExit) as e:
        T.main(argv(SMALL, "--epochs 3 --data-dir", tiny_cifar, "--out", tmp_path))
    message = str(e.value)
    assert message.startswith("error: could not save") and "\n" not in message
    assert "the disk is full" in message and str(tmp_path) in message
    assert "intact" in message
    model, card = load_checkpoint(tmp_path)
    assert card["epoch"] == 1
    state = torch.load(tmp_path / "train_state.pt", weights_only=True)
    assert state["epoch"] == 1  # the state to resume from matches the checkpoint
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert not (tmp_path / LOCK).exists()
