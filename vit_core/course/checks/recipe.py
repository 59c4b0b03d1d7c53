"""Chapter 5: the learning-rate schedule, mixup and label smoothing."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ... import mix as _mix
from ... import schedule as _schedule
from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor


@_checker
def check_lr_schedule(fn):
    """``fn(step, total_steps, warmup_steps, base_lr, min_lr) -> float``: linear warmup
    over ``warmup_steps`` (``base_lr * (step + 1) / warmup_steps``), then cosine decay
    reaching ``min_lr`` at ``total_steps``."""
    for total, warm in [(100, 10), (50, 0)]:
        base, low = 1e-3, 1e-5
        got = [_call(fn, s, total, warm, base, low) for s in range(total + 1)]
        want = [_schedule.lr_at(s, total, warm, base, low) for s in range(total + 1)]
        try:
            got = [float(v) for v in got]
        except (TypeError, ValueError):
            raise CheckFailed(
                f"return a float learning rate, got {type(got[0]).__name__}"
            ) from None
        bad = [
            s
            for s in range(total + 1)
            if not math.isclose(got[s], want[s], rel_tol=1e-6, abs_tol=1e-12)
        ]
        if not bad:
            continue
        s = bad[0]
        where = (
            f"(total_steps={total}, warmup_steps={warm}, base_lr={base}, min_lr={low})"
        )
        if warm and s < warm:
            if math.isclose(got[0], 0.0, abs_tol=1e-15):
                raise CheckFailed(
                    f"your warmup starts at lr 0 {where}: step 0 would not learn at "
                    "all. "
                    "Use base_lr * (step + 1) / warmup_steps"
                )
            raise CheckFailed(
                f"the warmup is wrong at step {s} {where}: expected {want[s]:.4g}, got "
                f"{got[s]:.4g}; "
                "it rises linearly as base_lr * (step + 1) / warmup_steps"
            )
        if not math.isclose(got[total], low, rel_tol=1e-6):
            raise CheckFailed(
                f"at step total_steps={total} the lr should have decayed to "
                f"min_lr={low}, got {got[total]:.4g} "
                f"{where}"
            )
        if math.isclose(got[warm], base, rel_tol=1e-6) and s > warm:
            mid = (warm + total) // 2
            lin = base + (low - base) * (mid - warm) / (total - warm)
            if math.isclose(got[mid], lin, rel_tol=1e-3):
                raise CheckFailed(
                    "your decay is a straight line; use a cosine: "
                    "min_lr + 0.5 * (base_lr - min_lr) * (1 + cos(pi * t))"
                )
        raise CheckFailed(
            f"first wrong value at step {s} {where}: expected {want[s]:.6g}, got "
            f"{got[s]:.6g}"
        )
    return "Warmup, peak, cosine and floor all match vit_core.schedule.lr_at."


@_checker
def check_mixup(fn):
    """``fn(x, y_soft, lam) -> (x_mixed, y_mixed)``: mix every sample with the batch
    reversed (``x.flip(0)``), images and soft labels with the same ``lam``."""
    g = _gen()
    x = torch.randn(4, 3, 8, 8, generator=g)
    y = F.one_hot(torch.tensor([0, 3, 3, 7]), 10).float()
    lam = 0.7
    res = _call(fn, x.clone(), y.clone(), lam)
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise CheckFailed("return a pair (mixed images, mixed labels)")
    xm, ym = _tensor(res[0], x.shape, "images"), _tensor(res[1], y.shape, "labels")
    want_x, want_y = lam * x + (1 - lam) * x.flip(0), lam * y + (1 - lam) * y.flip(0)
    if not _close(xm, want_x):
        if _close(xm, (1 - lam) * x + lam * x.flip(0)):
            raise CheckFailed(
                "you swapped lam and 1 - lam: the sample keeps weight lam, its partner "
                "gets 1 - lam"
            )
        if _close(xm, x):
            raise CheckFailed(
                "the images are unchanged; mix them: lam * x + (1 - lam) * x.flip(0)"
            )
        for shift in (1, -1):
            if _close(xm, lam * x + (1 - lam) * x.roll(shift, 0)):
                raise CheckFailed(
                    "pair each sample with the batch reversed (x.flip(0)), not shifted "
                    "by one"
                )
        raise CheckFailed(
            "the images differ from lam * x + (1 - lam) * x.flip(0) (max abs diff "
            f"{_maxdiff(xm, want_x)})"
        )
    if not _close(ym, want_y):
        if _close(ym, y):
            raise CheckFailed(
                "the images are mixed but the labels are not: mix the labels with the "
                "same lam and partner"
            )
        if not torch.allclose(ym.sum(-1), torch.ones(4), atol=1e-5):
            raise CheckFailed("your mixed labels do not sum to 1 per sample")
        raise CheckFailed(
            "the labels differ from lam * y + (1 - lam) * y.flip(0) (max abs diff "
            f"{_maxdiff(ym, want_y)})"
        )
    return "Images and labels are mixed with the same weight and the same partner."


@_checker
def check_label_smoothing(fn):
    """``fn(y, num_classes, smoothing) -> (B, num_classes)`` soft targets: ``smoothing /
    K`` on every class, plus ``1 - smoothing`` on the true one (the convention of
    PyTorch and timm)."""
    y = torch.tensor([0, 4, 9, 4])
    K, eps = 10, 0.1
    out = _tensor(_call(fn, y.clone(), K, eps), (4, K))
    want = _mix.smooth_one_hot(y, K, eps)
    if _close(out, want):
        return (
            "Same targets as F.cross_entropy(..., label_smoothing=0.1) uses internally."
        )
    if not torch.allclose(out.float().sum(-1), torch.ones(4), atol=1e-5):
        raise CheckFailed(
            f"your rows do not sum to 1 (they sum to {out.float().sum(-1).tolist()}): "
            "the true class gets "
            "1 - smoothing + smoothing / K, every other class smoothing / K"
        )
    alt = torch.full((4, K), eps / (K - 1)).scatter_(1, y[:, None], 1 - eps)
    if _close(out, alt):
        raise CheckFailed(
            "you spread the smoothing over the K - 1 wrong classes; PyTorch and timm "
            "spread it over all "
            "K: off = smoothing / K, true class = 1 - smoothing + smoothing / K"
        )
    if out.argmax(-1).ne(y).any():
        raise CheckFailed("the largest value is not on the true class")
    raise CheckFailed(
        f"values differ from the reference (max abs diff {_maxdiff(out, want)})"
    )
