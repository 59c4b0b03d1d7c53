"""Learning-rate schedules: linear warmup, then cosine decay; and the EMA's decay.

A run ends at its last step or when its time budget runs out, whichever comes first.
``Schedule`` measures progress as the larger of the two fractions (steps done, seconds
spent), so the cosine reaches ``min_lr`` at that end, whatever the machine's throughput.
Warmup takes its steps, but at most a fifth of the run, so short runs also end at
``min_lr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_WARMUP_SHARE = 0.2


def warmup_lr(step: int, warmup_steps: int, base_lr: float) -> float:
    return base_lr * min(1.0, (step + 1) / max(warmup_steps, 1))


def cosine_lr(t: float, base_lr: float, min_lr: float) -> float:
    """Cosine decay from ``base_lr`` at t=0 to ``min_lr`` at t=1."""
    t = min(max(t, 0.0), 1.0)
    return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + math.cos(math.pi * t))


EMA_WARMUP_POWER = 0.75


def ema_decay_at(step: int, decay: float) -> float:
    """The EMA's decay after ``step`` updates, with warmup: 1 - (1 + step)^-3/4, at most
    ``decay``. The average then weighs about the last (1 + step)^3/4 steps (31 after
    100 steps, 300 after 2000), where a fixed 0.999 weighs the last 1000 from the
    first step on. The form is the EMA warmup of timm's ``ModelEmaV3`` and diffusers'
    ``EMAModel`` (power 3/4: their suggestion for shorter runs)."""
    return min(decay, 1.0 - (1.0 + step) ** -EMA_WARMUP_POWER)


@dataclass
class Schedule:
    """Warmup, then cosine over the run's progress: max(steps / total_steps, seconds /
    budget).

    ``warmup_end`` is the progress at which the cosine began. It is state (a checkpoint
    keeps it) because under a time budget it depends on how fast the first steps ran.
    """

    base_lr: float
    min_lr: float
    warmup_steps: int
    total_steps: int
    budget_s: float | None = None
    kind: str = "cosine"
    warmup_end: float | None = None

    def progress(self, step: int, seconds: float = 0.0) -> float:
        p = step / max(self.total_steps, 1)
        if self.budget_s is not None:
            p = max(p, seconds / self.budget_s)
        return min(p, 1.0)

    def finished(self, step: int, seconds: float = 0.0) -> bool:
        return self.progress(step, seconds) >= 1.0

    def lr(self, step: int, seconds: float = 0.0) -> float:
        """The learning rate of step ``step`` (0-based), taken after ``seconds`` of
        training."""
        if self.kind == "constant":
            return self.base_lr
        p = self.progress(step, seconds)
        if self.warmup_end is None:
            if step < self.warmup_steps and p < MAX_WARMUP_SHARE:
                warm = max(
                    warmup_lr(step, self.warmup_steps, 1.0), p / MAX_WARMUP_SHARE
                )
                return self.base_lr * warm
            self.warmup_end = p
        t = (p - self.warmup_end) / max(1.0 - self.warmup_end, 1e-9)
        return cosine_lr(t, self.base_lr, self.min_lr)


def lr_at(
    step: int,
    total_steps: int,
    warmup_steps: int,
    base_lr: float,
    min_lr: float,
    schedule: str = "cosine",
) -> float:
    """``Schedule``'s learning rate at ``step`` of a run measured in steps alone,
    without state: linear warmup, then cosine decay to ``min_lr`` at ``total_steps``; or
    a constant ``base_lr``."""
    first_cosine_step = min(warmup_steps, math.ceil(MAX_WARMUP_SHARE * total_steps))
    warmup_end = first_cosine_step / total_steps if step >= first_cosine_step else None
    return Schedule(
        base_lr, min_lr, warmup_steps, total_steps, kind=schedule, warmup_end=warmup_end
    ).lr(step)


def parse_duration(text: str) -> float:
    """'15m', '90s', '1.5h' or a plain number of seconds -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    try:
        seconds = (
            float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
        )
    except (ValueError, IndexError):
        raise ValueError(
            f"cannot read the duration {text!r}; write it as 90s, 15m or 1.5h"
        ) from None
    if not seconds > 0:
        raise ValueError(f"the duration {text!r} must be positive")
    return seconds
