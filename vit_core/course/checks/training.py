"""Chapter 6: the training step and the confusion matrix."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import CheckFailed, _call, _checker, _gen, _NotYet, _tensor


@_checker
def check_train_step(fn):
    """``fn(model, optimizer, x, y) -> loss``: one step of cross-entropy training (zero
    the gradients, forward, backward, update); return the loss of this batch as a
    float."""
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    student = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    student.load_state_dict(ref.state_dict())
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=0.05)
    opt_st = torch.optim.AdamW(student.parameters(), lr=0.05)
    g = _gen()
    for step in range(3):
        x, y = (
            torch.randn(8, 3, 2, 2, generator=g),
            torch.randint(0, 3, (8,), generator=g),
        )
        before = [p.detach().clone() for p in student.parameters()]
        try:
            loss = fn(student, opt_st, x, y)
        except NotImplementedError:
            raise _NotYet from None
        except Exception as e:
            raise CheckFailed(f"your code raised {type(e).__name__}: {e}") from e
        opt_ref.zero_grad()
        ref_loss = F.cross_entropy(ref(x), y)
        ref_loss.backward()
        opt_ref.step()
        if isinstance(loss, torch.Tensor):
            if loss.requires_grad:
                raise CheckFailed(
                    "return loss.item() (a float), not the loss tensor: keeping it "
                    "keeps its whole graph alive"
                )
            loss = loss.item()
        if not isinstance(loss, float):
            raise CheckFailed(f"return the loss as a float, got {type(loss).__name__}")
        if not math.isclose(loss, ref_loss.item(), rel_tol=1e-4):
            raise CheckFailed(
                f"step {step + 1}: the returned loss {loss:.5f} is not the "
                "cross-entropy of this batch "
                f"before the update ({ref_loss.item():.5f})"
            )
        if all(torch.equal(a, b) for a, b in zip(before, student.parameters())):
            raise CheckFailed(
                f"step {step + 1}: the parameters did not change; call loss.backward() "
                "and then "
                "optimizer.step()"
            )
        if not all(
            torch.allclose(a, b, atol=1e-6)
            for a, b in zip(student.parameters(), ref.parameters())
        ):
            if step > 0:
                raise CheckFailed(
                    f"the first step is right but step {step + 1} is not: gradients "
                    "accumulate across "
                    "steps unless you call optimizer.zero_grad() every step"
                )
            raise CheckFailed(
                "after one step your parameters differ from the reference update"
            )
    return "Three steps give exactly the reference's weights."


@_checker
def check_confusion(fn):
    """``fn(pred, y, num_classes) -> (K, K)`` integer counts: row = true class, column =
    predicted class."""
    g = _gen()
    y = torch.randint(0, 5, (200,), generator=g)
    pred = torch.where(
        torch.rand(200, generator=g) < 0.6, y, torch.randint(0, 5, (200,), generator=g)
    )
    out = _tensor(_call(fn, pred.clone(), y.clone(), 5), (5, 5), "confusion matrix")
    want = torch.zeros(5, 5, dtype=torch.long)
    for t, p in zip(y.tolist(), pred.tolist()):
        want[t, p] += 1
    if out.is_floating_point():
        out = out.round()
    out = out.long()
    if torch.equal(out, want):
        return (
            "Rows are true classes, columns predictions; the diagonal holds the "
            "correct ones."
        )
    if torch.equal(out, want.T):
        raise CheckFailed(
            "your matrix is transposed: rows must be the true class, columns the "
            "prediction"
        )
    if out.sum() != len(y):
        raise CheckFailed(
            f"your counts sum to {out.sum().item()}, not to the {len(y)} samples"
        )
    raise CheckFailed(
        "the counts differ from the reference: entry [t, p] counts samples of class t "
        "predicted as p"
    )


def _toy_fit_problem():
    """A linear model, its optimizer and a stream of batches of a learnable task, and a
    count of the batches taken."""
    torch.manual_seed(0)
    model = nn.Linear(8, 3)
    g = _gen(1)
    x = torch.randn(96, 8, generator=g)
    y = (x @ torch.randn(8, 3, generator=g)).argmax(1)
    taken = [0]

    def batches():
        while True:
            for i in range(0, 96, 16):
                taken[0] += 1
                yield x[i : i + 16], y[i : i + 16]

    return model, torch.optim.SGD(model.parameters(), lr=0.0), batches(), taken


@_checker
def check_fit(fn):
    """``fn(model, optimizer, batches, steps, warmup, base_lr, min_lr) -> (losses,
    lrs)``: ``steps`` training steps, one batch each, at the learning rate of the
    warmup-then-cosine schedule of notebook 5, set before each step."""
    from ..reference import fit, lr_schedule

    steps, warmup, base_lr, min_lr = 30, 5, 0.5, 0.01
    model, optimizer, batches, taken = _toy_fit_problem()
    used = []  # the rate each optimizer.step() ran at
    step = optimizer.step

    def recording_step(*args, **kwargs):
        used.append(optimizer.param_groups[0]["lr"])
        return step(*args, **kwargs)

    optimizer.step = recording_step
    try:
        out = fn(model, optimizer, batches, steps, warmup, base_lr, min_lr)
    except NotImplementedError:
        raise _NotYet from None
    except Exception as e:
        raise CheckFailed(f"your code raised {type(e).__name__}: {e}") from e
    if not (isinstance(out, tuple) and len(out) == 2):
        raise CheckFailed("return two lists, (losses, lrs): one entry each per step")
    losses, lrs = (list(part) for part in out)
    if len(losses) != steps or len(lrs) != steps:
        raise CheckFailed(
            f"asked for {steps} steps, you returned {len(losses)} losses and "
            f"{len(lrs)} learning rates"
        )
    if taken[0] != steps:
        raise CheckFailed(
            f"{steps} steps should take {steps} batches, one each; yours took "
            f"{taken[0]}"
        )
    want = [lr_schedule(s, steps, warmup, base_lr, min_lr) for s in range(steps)]
    for s, (have, lr) in enumerate(zip(used, want)):
        if not math.isclose(have, lr, rel_tol=1e-9):
            late = have == 0.0 if s == 0 else math.isclose(have, want[s - 1])
            hint = (
                "set each param group's 'lr' before the step, not after"
                if late
                else "steps count from 0, and the schedule takes (step, steps, "
                "warmup, base_lr, min_lr)"
            )
            raise CheckFailed(
                f"step {s} ran at learning rate {have:.4g}; the schedule gives "
                f"{lr:.4g}: {hint}"
            )
    if len(used) != steps:
        raise CheckFailed(f"the optimizer stepped {len(used)} times, not {steps}")
    if not all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(lrs, want)):
        raise CheckFailed("the returned lrs are not the rates the steps ran at")
    ref_model, ref_optimizer, ref_batches, _ = _toy_fit_problem()
    ref_losses, _ = fit(
        ref_model, ref_optimizer, ref_batches, steps, warmup, base_lr, min_lr
    )
    if not all(math.isclose(a, b, rel_tol=1e-4) for a, b in zip(losses, ref_losses)):
        raise CheckFailed(
            "the losses differ from training this model on these batches with "
            "train_step: return each step's loss, in order"
        )
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    return f"The loss fell from {first:.2f} to {last:.2f} in {steps} steps."
