"""Facts recorded beside every result: device, software, command and commit."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name} was asked for, but this machine has no CUDA GPU"
        )
    return torch.device(name)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"{cpu_model()}, {torch.get_num_threads()} threads"
    return device.type


def git_commit() -> str | None:
    """HEAD of the repo this package lives in, with '+dirty' when tracked files have
    changed."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def command_line(module: str, argv: list[str] | None = None) -> str:
    """The command that ran ``module``: its ``main(argv)``'s argv, or the shell's."""
    return f"python -m {module} " + shlex.join(sys.argv[1:] if argv is None else argv)


def environment(device: torch.device) -> dict:
    return {
        "device": device_description(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "commit": git_commit(),
    }
