"""Knowledge distillation as DeiT does it (Touvron et al. 2021): a trained teacher's
predictions on each training batch teach the student, next to the labels.

The teacher sees the very batch the student sees, augmented and mixed, in eval mode
and without gradients, so its logits are computed on the fly. The cheaper alternative,
``--teacher-cache``, runs it once over the clean training images and looks each
image's logits up: the student then learns the teacher's view of the clean image, not
of the crop it sees. A student with a distillation token (``distilled=True``) learns
the teacher with its second head and the labels with its CLS head; any other student
learns both with its one head (DeiT's distillation without a token).
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import checkpoint_paths, load_checkpoint
from .data import CLASSES, normalize
from .errors import CheckpointError
from .pretrained import resolve_checkpoint

SOFT_ALPHA = 0.5  # the weight of the teacher's term in soft distillation, as DeiT


def hard_distillation_loss(
    label_loss: torch.Tensor, dist_logits: torch.Tensor, teacher_logits: torch.Tensor
) -> torch.Tensor:
    """DeiT's hard distillation: the label loss and the cross-entropy of the
    distillation head against the teacher's top class, weighted equally."""
    teacher_class = teacher_logits.argmax(dim=-1)  # (B,)
    return 0.5 * label_loss + 0.5 * F.cross_entropy(dist_logits.float(), teacher_class)


def soft_distillation_loss(
    label_loss: torch.Tensor,
    dist_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    tau: float,
    alpha: float = SOFT_ALPHA,
) -> torch.Tensor:
    """(1 - alpha) label_loss + alpha tau^2 KL(teacher || student), both softmaxes at
    temperature ``tau``; tau^2 keeps the gradients' scale as tau changes (Hinton et
    al. 2015). The KL is averaged over images: DeiT's code also divides it by the
    number of classes, which would shrink the teacher's term ten-fold here."""
    kl = F.kl_div(
        F.log_softmax(dist_logits.float() / tau, dim=-1),
        F.log_softmax(teacher_logits.float() / tau, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - alpha) * label_loss + alpha * tau**2 * kl


class Teacher:
    """A trained model in eval mode with frozen weights, the distillation it teaches,
    and the seconds its forward passes have taken (part of the student's time).
    ``record`` is what the student's card keeps of it."""

    def __init__(
        self, model: nn.Module, mode: str, tau: float, two_heads: bool, record: dict
    ):
        self.model, self.mode, self.tau, self.two_heads = model, mode, tau, two_heads
        self.record, self.seconds = record, 0.0
        self.cache, self.loader = None, None

    @torch.no_grad()
    def cache_logits(self, loader, clock, batch: int = 500) -> float:
        """Run the teacher over ``loader``'s clean images once, and from then on look
        each batch's logits up by ``loader.batch_index``. The pass runs on ``clock``,
        so it counts in the run's time, which this returns."""
        clock.start()
        images = loader.images  # (N, 3, 32, 32) uint8
        self.cache = torch.cat(
            [
                self.logits(normalize(images[i : i + batch]))
                for i in range(0, len(images), batch)
            ]
        )  # (N, num_classes)
        self.loader = loader
        self.record["cache"] = {
            "of": "the clean training images' logits, computed once",
            "images": len(images),
            "seconds": round(self.seconds, 2),
        }
        return clock.stop()

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.cache is not None:
            return self.cache[self.loader.batch_index]
        start = time.perf_counter()
        out = self.model(x).float()  # (B, num_classes)
        if out.is_cuda:  # the GPU runs ahead of the clock; wait for it
            torch.cuda.synchronize(out.device)
        self.seconds += time.perf_counter() - start
        return out

    def loss(self, x, label_loss: torch.Tensor, dist_logits: torch.Tensor):
        """The distillation loss of the student that gave ``dist_logits`` on ``x``."""
        teacher_logits = self.logits(x)
        if self.mode == "hard":
            return hard_distillation_loss(label_loss, dist_logits, teacher_logits)
        return soft_distillation_loss(label_loss, dist_logits, teacher_logits, self.tau)


def load_teacher(cfg, student: nn.Module, device: torch.device) -> Teacher | None:
    """The teacher that ``cfg.teacher`` names (a checkpoint, a run folder or a shipped
    name; None without one), checked to predict the data set's classes."""
    if cfg.teacher is None:
        return None
    path = resolve_checkpoint(cfg.teacher)
    weights, _ = checkpoint_paths(path)
    if not weights.is_file():
        raise CheckpointError(
            f"--teacher {cfg.teacher}: there is no checkpoint there ({weights} is "
            "missing)"
        )
    model, card = load_checkpoint(path, device)
    model.requires_grad_(False)
    with torch.no_grad():
        classes = model(torch.zeros(1, 3, 32, 32, device=device)).shape[-1]
    if classes != len(CLASSES):
        raise CheckpointError(
            f"--teacher {cfg.teacher} predicts {classes} classes; the student learns "
            f"CIFAR-10's {len(CLASSES)}"
        )
    two_heads = getattr(student, "head_dist", None) is not None
    record = {
        "checkpoint": cfg.teacher,
        "model": card["model"],
        "test_accuracy": card.get("test_accuracy"),
        "distill": cfg.distill,
        "tau": cfg.distill_tau if cfg.distill == "soft" else None,
        "head": "head_dist" if two_heads else "head",
    }
    return Teacher(model, cfg.distill, cfg.distill_tau, two_heads, record)
