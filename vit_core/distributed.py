"""What a run borrows from its process, and gives back: device, process group, threads
and RNG.

Under ``torchrun`` every process trains a replica; DDP averages their gradients.
Whatever must be the same on every replica and is not a gradient (the clock a time
budget is read from, for one) is decided by rank 0 and broadcast over a small CPU (gloo)
group, which costs no GPU sync.
"""

from __future__ import annotations

import os
import time

import torch
import torch.distributed as dist

from .runinfo import resolve_device


class Session:
    """``with Session(device, threads, seed) as s``: a run's process state, restored on
    exit.

    Sets the thread count, seeds the RNG with ``seed`` (the same initial weights
    everywhere) and starts the process group under torchrun. On exit the caller's thread
    count and RNG state come back, so a notebook kernel is left as it was.
    """

    def __init__(self, device: str = "auto", threads: int | None = None, seed: int = 0):
        self.device_name, self.threads, self.seed = device, threads, seed
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank, self.group = 0, None

    def __enter__(self) -> Session:
        if self.world > 1:
            use_cuda = torch.cuda.is_available() and self.device_name != "cpu"
            dist.init_process_group("nccl" if use_cuda else "gloo")
            self.rank = dist.get_rank()
            self.group = (
                dist.new_group(backend="gloo") if use_cuda else dist.group.WORLD
            )
            local = int(os.environ.get("LOCAL_RANK", "0"))
            self.device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
            if use_cuda:
                torch.cuda.set_device(self.device)
        else:
            self.device = resolve_device(self.device_name)
        self.threads_before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        cuda = [self.device] if self.device.type == "cuda" else []
        self._rng = torch.random.fork_rng(devices=cuda)
        self._rng.__enter__()
        torch.manual_seed(self.seed)
        return self

    def __exit__(self, *exc) -> None:
        self._rng.__exit__(*exc)
        torch.set_num_threads(self.threads_before)
        if self.world > 1:
            dist.destroy_process_group()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def seed_process(self) -> None:
        """Each process its own random stream (drop-path masks, augmentation
        choices)."""
        torch.manual_seed(self.seed + self.rank)

    def rng_state(self) -> dict:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["cpu"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def gather(self, obj) -> list:
        """``obj`` from every process, in rank order (on every process)."""
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def from_main(self, value: float) -> float:
        """Rank 0's ``value``, on every process."""
        if self.world == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, src=0, group=self.group)
        return float(t)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sync(self) -> None:
        """Wait for the device, so that a clock reading covers the work queued so
        far."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class Clock:
    """Seconds of training, paused outside the training loop; rank 0's reading for
    everyone."""

    def __init__(self, session: Session, seconds: float = 0.0):
        self.session, self.total, self.started = session, seconds, None

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> float:
        self.session.sync()
        self.total = self.seconds()
        self.started = None
        return self.total

    def seconds(self) -> float:
        running = (
            time.perf_counter() - self.started if self.started is not None else 0.0
        )
        return self.session.from_main(self.total + running)
