"""Learning-rate schedules: linear warmup, then cosine decay.

With a fixed number of epochs the decay runs over steps. Under ``--time-budget`` it runs over seconds of
training: warmup takes its steps, then the cosine reaches ``min_lr`` exactly when the time runs out, whatever
the machine's throughput.
"""
from __future__ import annotations

import math


def warmup_lr(step: int, warmup_steps: int, base_lr: float) -> float:
    return base_lr * min(1.0, (step + 1) / max(warmup_steps, 1))


def cosine_lr(t: float, base_lr: float, min_lr: float) -> float:
    """Cosine decay from ``base_lr`` at t=0 to ``min_lr`` at t=1."""
    t = min(max(t, 0.0), 1.0)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float, min_lr: float,
          schedule: str = "cosine") -> float:
    """Linear warmup, then cosine decay to ``min_lr`` at ``total_steps``; or a constant ``base_lr``."""
    if schedule == "constant":
        return base_lr
    if step < warmup_steps:
        return warmup_lr(step, warmup_steps, base_lr)
    return cosine_lr((step - warmup_steps) / max(total_steps - warmup_steps, 1), base_lr, min_lr)


def parse_duration(text: str) -> float:
    """'15m', '90s', '1.5h' or a plain number of seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise ValueError(f"cannot read the duration {text!r}; write it as 90s, 15m or 1.5h") from None
    if not seconds > 0:
        raise ValueError(f"the duration {text!r} must be positive")
    return seconds
