"""The checks' shared machinery: the failure they raise, the wrapper that prints
correct / not implemented yet, the helpers that compare tensors, and the
predict-then-check reveals that read a prediction against a measurement."""

from __future__ import annotations

import functools
import math

import torch


class CheckFailed(AssertionError):
    """Your function runs but gives a wrong result; the message says what is wrong."""


class _NotYet(Exception):
    pass


def _checker(func):
    name = func.__name__

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with torch.random.fork_rng(devices=[]):
            try:
                detail = func(*args, **kwargs)
            except _NotYet:
                print(
                    f"{name}: not implemented yet (your code raises "
                    "NotImplementedError). "
                    f"Fill it in and run the cell again."
                )
                return False
            except CheckFailed as e:
                e.args = (f"{name}: {e.args[0]}",)
                raise
        print(f"{name}: correct!" + (f" {detail}" if detail else ""))
        return True

    return wrapper


def _call(fn, *args, **kwargs):
    """Run the student's code; NotImplementedError means 'not yet', any other error is
    reported."""
    try:
        with torch.no_grad():
            return fn(*args, **kwargs)
    except NotImplementedError:
        raise _NotYet from None
    except CheckFailed:
        raise
    except Exception as e:
        raise CheckFailed(f"your code raised {type(e).__name__}: {e}") from e


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _tensor(out, shape, what="output") -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        raise CheckFailed(
            f"the {what} should be a torch.Tensor, got {type(out).__name__}"
        )
    if tuple(out.shape) != tuple(shape):
        raise CheckFailed(
            f"wrong {what} shape: expected {tuple(shape)}, got {tuple(out.shape)}"
        )
    return out


def _close(a: torch.Tensor, b: torch.Tensor, atol=1e-5, rtol=1e-4) -> bool:
    return a.shape == b.shape and torch.allclose(
        a.double(), b.double(), atol=atol, rtol=rtol
    )


def _maxdiff(a, b) -> str:
    return f"{(a.double() - b.double()).abs().max().item():.3g}"


def reveal(prediction, options, scores: dict, noise: float, unit: str = "points"):
    """Compare ``prediction`` (one of ``options``, ``"tie"``, or None before
    predicting) with the measured ``scores`` (option -> value, higher is better; the
    options measured so far) and print the answer.

    ``noise`` is the lead the measurement can resolve: the spread between seeds, or
    the sampling error of an accuracy on few test images. A smaller lead orders
    nothing, and is called a tie: a prediction of ``"tie"`` is then right, and one of
    the options is neither right nor wrong. Returns the winner, or None for a tie or
    when fewer than two options are measured.
    """
    if prediction is not None and prediction not in [*options, "tie"]:
        raise CheckFailed(
            f"predict one of {list(options)} or 'tie', not {prediction!r}"
        )
    if len(scores) < 2:
        print(
            f"Not measured yet (measured so far: {', '.join(scores) or 'none'}): "
            "the answer appears once the result file has the runs."
        )
        return None
    ranked = sorted(scores, key=scores.get, reverse=True)
    for name in ranked:
        print(f"  {name}: {scores[name]:.2f} {unit}")
    if prediction is None:
        print("You have not predicted yet: set your prediction and run the cell again.")
    lead = scores[ranked[0]] - scores[ranked[1]]
    if lead <= noise:
        print(
            f"Measured: {ranked[0]} leads by {lead:.2f} {unit}, within the noise "
            f"({noise:.2f}): a tie, this measurement cannot order them."
        )
        if prediction == "tie":
            print("Your prediction was right.")
        elif prediction is not None:
            print(
                f"You predicted {prediction}: a tie can neither confirm nor refute it."
            )
        return None
    print(f"Measured: {ranked[0]}, ahead by {lead:.2f} {unit} (noise {noise:.2f}).")
    if prediction is not None:
        print(
            "Your prediction was right."
            if prediction == ranked[0]
            else f"You predicted {prediction}: the measurement says otherwise."
        )
    return ranked[0]


def accuracy_noise(accuracies, n_test: int) -> float:
    """Twice the standard error, in points, of the difference of two accuracies
    measured on ``n_test`` images each: a smaller gap is within sampling noise."""
    p = sum(accuracies) / len(accuracies)
    return 200 * math.sqrt(2 * p * (1 - p) / n_test)


def reveal_ladder(prediction, rows: list[dict]):
    """Which rung of the ablation ladder gained the most over the rung before?
    ``prediction``: a rung number; ``rows``: :func:`vit_core.course.ladder.ladder_rows`.
    """
    gains = {row["rung"]: row["gain"] for row in rows[1:]}
    if prediction is not None and gains and prediction not in gains:
        raise CheckFailed(f"predict a rung number, one of {sorted(gains)}")
    names = {row["rung"]: f"rung {row['rung']} ({row['name']})" for row in rows[1:]}
    scores = {names[rung]: gain for rung, gain in gains.items()}
    noise = max((row["noise"] for row in rows[1:]), default=0.0)
    best = reveal(names.get(prediction), names.values(), scores, noise, "points gained")
    if gains and max(gains.values()) <= noise:
        print(
            "No rung gained more than the spread between seeds: at this length the "
            "ladder measures no single trick's effect."
        )
    return best


def reveal_models(prediction, options, runs: list[dict]):
    """Which of the models ``options`` reached the higher test accuracy at equal
    epochs? ``prediction``: one of them; ``runs``:
    :func:`vit_core.course.comparison.model_runs`."""
    by_model: dict[str, list[float]] = {}
    for run in runs:
        if run["model"] in options:
            by_model.setdefault(run["model"], []).append(run["test_accuracy"])
    scores = {m: 100 * sum(a) / len(a) for m, a in by_model.items()}
    n_test = 10_000  # CIFAR-10's test set, which every run of the file is scored on
    noise = accuracy_noise([s / 100 for s in scores.values()] or [0.5], n_test)
    return reveal(prediction, options, scores, noise, "% test accuracy")
