"""Chapter 10: DeiT's distillation token and its hard-label loss, and the
predict-then-check of the taught student at equal time."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...distill import hard_distillation_loss
from .common import CheckFailed, _call, _checker, _close, _gen, _tensor, reveal


def _prefix_ref(x, cls_token, dist_token):
    B = x.shape[0]
    return torch.cat([cls_token.expand(B, -1, -1), dist_token.expand(B, -1, -1), x], 1)


@_checker
def check_prefix_tokens(fn):
    """``fn(x (B, N, D), cls_token (1, 1, D), dist_token (1, 1, D)) -> (B, N+2, D)``:
    the CLS token, then the distillation token, then the N patch tokens, for every
    image of the batch."""
    g = _gen()
    x = torch.randn(3, 5, 4, generator=g)
    cls, dist = torch.randn(1, 1, 4, generator=g), torch.randn(1, 1, 4, generator=g)
    out = _tensor(_call(fn, x.clone(), cls.clone(), dist.clone()), (3, 7, 4))
    if torch.equal(out, _prefix_ref(x, cls, dist)):
        return (
            "Position 0 is read by the CLS head, position 1 by the distillation head."
        )
    if torch.equal(out, _prefix_ref(x, dist, cls)):
        raise CheckFailed(
            "the two tokens are swapped: DeiT (and timm, whose weights we load) puts "
            "the CLS token first and the distillation token second"
        )
    if torch.equal(out[:, :5], x):
        raise CheckFailed(
            "the patches come first: the two extra tokens go in front of them, so "
            "that their positions (0 and 1) do not depend on the number of patches"
        )
    raise CheckFailed("the values differ from [CLS, distillation token, patches]")


def _logits(g, B=6, C=10):
    return torch.randn(B, C, generator=g) * 2


@_checker
def check_hard_distillation(fn):
    """``fn(cls_logits, dist_logits, labels, teacher_logits) -> loss``: DeiT's hard
    distillation, half the cross-entropy of the CLS head against the labels, half that
    of the distillation head against the teacher's top class."""
    g = _gen()
    cls, dist, teacher = _logits(g), _logits(g), _logits(g)
    labels = torch.randint(0, 10, (6,), generator=g)
    out = _tensor(_call(fn, cls, dist, labels, teacher), (), "loss")
    want = hard_distillation_loss(F.cross_entropy(cls, labels), dist, teacher)
    if _close(out, want):
        return "The CLS head learns the labels, the distillation head the teacher."
    top = teacher.argmax(-1)
    soft = F.cross_entropy(dist, teacher.softmax(-1))
    slips = {
        "the teacher's probabilities, not its top class: that is soft "
        "distillation; hard distillation takes teacher_logits.argmax(-1)": 0.5
        * F.cross_entropy(cls, labels)
        + 0.5 * soft,
        "the two heads are swapped: the CLS head learns the labels, the "
        "distillation head the teacher": 0.5 * F.cross_entropy(dist, labels)
        + 0.5 * F.cross_entropy(cls, top),
        "twice the loss: DeiT weights each of the two terms by 1/2": 2 * want,
        "only the teacher's term: the CLS head must still learn the labels": (
            F.cross_entropy(dist, top)
        ),
    }
    for why, value in slips.items():
        if _close(out, value):
            raise CheckFailed(why)
    raise CheckFailed(
        f"expected {want.item():.4f}, got {out.item():.4f}: 0.5 * CE(cls_logits, "
        "labels) + 0.5 * CE(dist_logits, teacher's top class)"
    )


def taught_against_untaught(rows: list[dict], length: str) -> tuple[dict, float]:
    """From the distillation table's rows (book/tools/distill_table.arms): the mean
    test accuracy of each arm at ``length`` ("7.5 min", "5 epochs") and the noise,
    the larger spread of the two over their seeds."""
    matched = [r for r in rows if r["length"] == length]
    scores = {("taught" if r["taught"] else "untaught"): r["test"] for r in matched}
    noise = max((r["spread"] for r in matched), default=0.0)
    return scores, noise


def reveal_equal_time(prediction, rows: list[dict], length: str):
    """At equal wall time, the teacher's forward passes included, which student
    reaches the higher test accuracy: "taught", "untaught" or "tie"?"""
    scores, noise = taught_against_untaught(rows, length)
    return reveal(prediction, ("taught", "untaught"), scores, noise, "% test accuracy")
