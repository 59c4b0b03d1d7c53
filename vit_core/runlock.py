"""One live run at a time in a run folder: ``run.lock`` names the process that writes
it (pid and host), so that a second run into the folder is refused instead of mixing
its checkpoints and metrics with the first's. A lock left by a run that was killed is
taken over; ``with hold(folder):`` removes it when the run ends, however it ends."""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import CheckpointError

LOCK_NAME = "run.lock"


@contextmanager
def hold(folder) -> Iterator[Path]:
    """Lock ``folder`` (created if missing) for the body of the ``with``."""
    lock = Path(folder) / LOCK_NAME
    lock.parent.mkdir(parents=True, exist_ok=True)
    while not try_create(lock):
        holder = read_holder(lock)
        if holder is None:  # its run ended between our two looks: try again
            continue
        if is_alive(holder):
            raise CheckpointError(busy_message(lock, holder))
        print(
            f"{lock.parent}: taking over the lock of pid {holder['pid']} on "
            f"{holder['host']}, a run that is no longer alive",
            file=sys.stderr,
        )
        lock.unlink(missing_ok=True)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def try_create(lock: Path) -> bool:
    """Create ``lock`` naming this process; False if it exists. O_EXCL makes creating
    and checking one step, so two runs starting together cannot both get it."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as f:
        json.dump({"pid": os.getpid(), "host": socket.gethostname()}, f)
    return True


def read_holder(lock: Path) -> dict | None:
    """The pid and host in ``lock``; None if it is gone."""
    try:
        holder = json.loads(lock.read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        holder = {}
    valid = isinstance(holder, dict) and "host" in holder
    if not valid or not isinstance(holder.get("pid"), int):
        # an empty lock is also what a run holds in the instant after creating it
        raise CheckpointError(
            f"{lock} is unreadable, so whether a run still writes {lock.parent} is "
            f"unknown; if none does, delete {lock}"
        )
    return holder


def is_alive(holder: dict) -> bool:
    """Whether the lock's run may still be going: a pid on another host cannot be
    checked from here, so it counts as alive."""
    if holder["host"] != socket.gethostname():
        return True
    try:
        os.kill(holder["pid"], 0)  # signal 0 only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        pass
    return True


def busy_message(lock: Path, holder: dict) -> str:
    return (
        f"{lock.parent} is in use by a run that is still going (pid {holder['pid']} "
        f"on {holder['host']}): wait for it to end, or choose another --out. If no "
        f"run is writing there, delete {lock}"
    )
