"""Mixup, CutMix and label smoothing on whole batches, producing soft targets."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def smooth_one_hot(y: torch.Tensor, num_classes: int, smoothing: float) -> torch.Tensor:
    off = smoothing / num_classes
    return torch.full((len(y), num_classes), off, device=y.device).scatter_(
        1, y[:, None], 1.0 - smoothing + off
    )


def cutmix_box(
    h: int, w: int, lam: float, generator: torch.Generator
) -> tuple[int, int, int, int]:
    """A box covering about (1 - lam) of the image, centred at a random point and
    clipped to the image."""
    cut = (1.0 - lam) ** 0.5
    ch, cw = int(h * cut), int(w * cut)
    cy = int(torch.randint(0, h, (1,), generator=generator))
    cx = int(torch.randint(0, w, (1,), generator=generator))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    return y0, y1, x0, x1


def mix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
    label_smoothing: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each image with the batch reversed (as timm does), by mixup or CutMix (one of
    them at random when both alphas are set). Returns the mixed images and soft targets
    (B, num_classes)."""
    g = generator or torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    target = smooth_one_hot(y, num_classes, label_smoothing)
    use_cutmix = cutmix_alpha > 0 and (
        mixup_alpha <= 0 or torch.rand((), generator=g) < 0.5
    )
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    if alpha <= 0:
        return x, target
    # torch's Beta sampler takes no generator; numpy's, seeded from ours, keeps runs
    # reproducible.
    lam = float(
        np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g))).beta(
            alpha, alpha
        )
    )
    x_rev = x.flip(0)
    if use_cutmix:
        y0, y1, x0, x1 = cutmix_box(x.shape[2], x.shape[3], lam, g)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x_rev[:, :, y0:y1, x0:x1]
        # the area actually pasted
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (x.shape[2] * x.shape[3])
    else:
        x = lam * x + (1.0 - lam) * x_rev
    return x, lam * target + (1.0 - lam) * target.flip(0)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
