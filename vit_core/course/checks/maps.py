"""Chapters 7 and 8: attention rollout, attention distance, the explorer's tables."""

from __future__ import annotations

import itertools
import math

import torch

from ... import attention as _attention
from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor
from .patches import judge_number


def _random_attention(B=2, L=3, H=2, T=5, seed=0) -> torch.Tensor:
    """(B, L, H, T, T) softmax rows: what forward_attention returns, without a model."""
    return torch.randn(B, L, H, T, T, generator=_gen(seed)).mul(2).softmax(-1)


@_checker
def check_rollout(fn):
    """``fn(attn) -> (B, T, T)``: attention rollout of (B, L, H, T, T) maps, heads
    averaged, 0.5 A + 0.5 I per layer."""
    attn = _random_attention()
    out = _tensor(_call(fn, attn.clone()), (2, 5, 5))
    ref = _attention.rollout(attn)
    if _close(out, ref):
        return "Your rollout matches vit_core.attention.rollout."
    A = attn.mean(2)
    eye = torch.eye(5)
    wrong_order = 0.5 * (A[:, 0] + eye)
    for l in range(1, 3):
        wrong_order = wrong_order @ (0.5 * (A[:, l] + eye))
    plain = A[:, 0]
    for l in range(1, 3):
        plain = A[:, l] @ plain
    if _close(out, wrong_order):
        raise CheckFailed(
            "the layers are multiplied in the wrong order: a later layer acts on the "
            "result of the "
            "earlier ones, R = M_l @ R"
        )
    if _close(out, plain):
        raise CheckFailed(
            "you left out the residual connection: use 0.5 * A + 0.5 * I for each layer"
        )
    if not torch.allclose(out.sum(-1), torch.ones(2, 5), atol=1e-4):
        raise CheckFailed(
            "your rows do not sum to 1: with the identity added, re-normalize each row "
            "(0.5 * A + 0.5 * I does that when A's rows sum to 1)"
        )
    raise CheckFailed(
        "values differ from vit_core.attention.rollout (max abs diff "
        f"{_maxdiff(out, ref)}); "
        "did you average the heads (dim=2) before the product?"
    )


@_checker
def check_mean_distance(fn):
    """``fn(attn, grid_size, patch_size) -> (L, H)``: mean attention distance in pixels,
    patch tokens only."""
    attn = _random_attention(T=9, seed=1)  # a 3x3 grid of patches, no CLS token
    out = _tensor(_call(fn, attn.clone(), 3, 4), (3, 2))
    ref = _attention.mean_attention_distance(attn, 3, 4)
    if _close(out, ref, atol=1e-4):
        return "Your distances match vit_core.attention.mean_attention_distance."
    if _close(out, _attention.mean_attention_distance(attn, 3, 1), atol=1e-4):
        raise CheckFailed(
            "your distances are in patches, not pixels: multiply the patch coordinates "
            "by patch_size"
        )
    raise CheckFailed(
        "values differ from mean_attention_distance (max abs diff "
        f"{_maxdiff(out, ref)}): weight each "
        "query-to-key distance by its attention, sum over keys, then average over "
        "images and queries"
    )


def reveal_uniform_distance(
    prediction, measured: float, patch_size: int
) -> bool | None:
    """The pen-and-paper part of the distance exercise: the mean attention distance of
    uniform attention on a 2x2 grid of ``patch_size``-pixel patches. ``measured``: what
    the student's function returns for it. Prints the value, explains a wrong
    prediction and returns whether it was right (None before predicting)."""
    p = patch_size
    exact = (0 + p + p + p * math.sqrt(2)) / 4  # itself, two neighbours, the diagonal
    print(f"Your function gives {measured:.4f} px; by hand: {exact:.4f} px.")
    if not math.isclose(measured, exact, rel_tol=1e-5):
        print("Your function and the hand value differ: recheck the function first.")
    return judge_number(
        prediction,
        exact,
        {
            (2 * p + p * math.sqrt(2)) / 3: "each query attends to itself too, at "
            "distance 0: four keys share the weight, not three",
            (2 + math.sqrt(2)) / 4: "that is in patches; the distance is in pixels, "
            "times the patch size",
            (2 * p + 2 * p) / 4: "the diagonal neighbour is p·√2 away in a straight "
            "line, not p + p",
            3 * p / 4: "the diagonal neighbour is farther than the others: p·√2",
            2 * p + p * math.sqrt(2): "the attention weights are 1/4 each, so the "
            "weighted sum is a mean, not a sum",
        },
        "each query sees four keys with weight 1/4: itself at 0, two neighbours at p "
        "and the diagonal one at p·√2",
    )


def intervals_apart(a: dict, b: dict) -> bool:
    """Whether two rows' 95% intervals (``low``, ``high``) do not overlap."""
    return a["high"] < b["low"] or b["high"] < a["low"]


def reveal_best_map(prediction, rows: list[dict]) -> str | None:
    """Which map's deletion order loses accuracy soonest (the smallest area under the
    deletion curve)? ``prediction``: a map's name, ``"tie"``, or None before
    predicting; ``rows``: one per method, ``method``, ``area``, ``low`` and ``high``
    (a 95% interval), random deletion among them. A map wins only when its interval
    lies below every other map's; else the answer is a tie. Returns the winner, or
    None for a tie."""
    maps = sorted((r for r in rows if r["method"] != "random"), key=lambda r: r["area"])
    names = [r["method"] for r in maps]
    if prediction is not None and prediction not in [*names, "tie"]:
        raise CheckFailed(f"predict one of {names} or 'tie', not {prediction!r}")
    for r in maps:
        print(f"  {r['method']}: area {r['area']:.3f} ({r['low']:.3f}–{r['high']:.3f})")
    best, rest = maps[0], maps[1:]
    close = [r["method"] for r in rest if not intervals_apart(best, r)]
    if close:
        answer = "tie"
        print(
            f"Measured: {best['method']} has the smallest area, but its interval "
            f"overlaps {', '.join(close)}'s: a tie, these images cannot order them."
        )
    else:
        answer = best["method"]
        print(f"Measured: {answer}, its interval below every other map's.")
    if prediction is None:
        print("You have not predicted yet: set your prediction and run the cell again.")
    elif prediction == answer:
        print("Your prediction was right.")
    elif answer == "tie" and prediction in [best["method"], *close]:
        print(
            f"You predicted {prediction}: it is among those the measurement cannot "
            "order, so it is neither confirmed nor refuted."
        )
    elif prediction == "tie":
        print(
            f"You predicted a tie: {answer}'s interval lies below every other map's, "
            "so these images do order them."
        )
    else:
        area = next(r["area"] for r in maps if r["method"] == prediction)
        print(
            f"You predicted {prediction}: its area, {area:.3f}, lies above "
            f"{best['method']}'s interval. A larger area means the accuracy holds "
            "longer while its patches go first: its order finds the evidence later."
        )
    return None if answer == "tie" else answer


# ------------------------------------------------------------------------------
# 08: the explorer
def _tiny_explorer():
    """A real AttentionExplorer on a small random ViT: a 4x4 grid, 3 layers, 2 heads,
    left in rollout mode on the pooled row, as a careless solution would find it."""
    from ...explorer import AttentionExplorer
    from ...registry import create_model

    torch.manual_seed(0)
    vit = create_model("vit_tiny", embed_dim=16, depth=3, num_heads=2, patch_size=8)
    image = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8, generator=_gen())
    explorer = AttentionExplorer(vit, image)
    explorer.mode, explorer.query, explorer.layer, explorer.head = "rollout", -1, 0, -1
    return explorer


def _cells_above_half(explorer, mode, query) -> torch.Tensor:
    meta = explorer.meta
    table = torch.zeros(meta["layers"], meta["heads"], dtype=torch.long)
    explorer.mode, explorer.query = mode, query
    for layer, head in itertools.product(range(meta["layers"]), range(meta["heads"])):
        explorer.layer, explorer.head = layer, head
        table[layer, head] = int((explorer.current_map() > 0.5).sum())
    return table


@_checker
def check_sharpness_table(fn):
    """``fn(explorer, query) -> (layers, heads)``: for each layer and head, how many
    cells of the raw attention map of patch ``query`` exceed 0.5."""
    explorer, query = _tiny_explorer(), 6  # row 1, column 2 of the 4x4 grid
    out = _call(fn, explorer, query)
    if out is None:
        raise CheckFailed(
            "your function returns None; return the (layers, heads) table"
        )
    want = _cells_above_half(explorer, "raw", query)
    out = _tensor(torch.as_tensor(out), (3, 2), "table").long()
    if torch.equal(out, want):
        return "Few cells above 0.5 means a head that looks at few patches."
    if torch.equal(out, 16 - want):
        raise CheckFailed(
            "you counted the cells at or below 0.5; count those above: a sharp head "
            "has few bright cells"
        )
    if torch.equal(out, _cells_above_half(explorer, "rollout", query)):
        raise CheckFailed(
            "these are rollout maps: the explorer was in rollout mode, so set "
            "explorer.mode = 'raw' (rollout ignores the head)"
        )
    if torch.equal(out, _cells_above_half(explorer, "raw", -1)):
        raise CheckFailed(
            "these are the pooled rows (query -1): set explorer.query = query, the "
            "argument, before reading the maps"
        )
    raise CheckFailed(
        "your counts differ: for each layer and head, set explorer.layer and "
        "explorer.head, then count (explorer.current_map() > 0.5).sum()"
    )


def _gray(image, patches, patch_size, value=128):
    """``image`` with ``patches`` set to ``value``, by the deletion curve's masking
    (which sets patches to 0)."""
    from ...perturbation import hide_patches

    x = image[None].float() - value
    hidden = hide_patches(x, torch.tensor([patches]), patch_size)[0] + value
    return hidden.to(torch.uint8)


@_checker
def check_masked_image(fn):
    """``fn(image (3, H, W) uint8, grid_map (G, G), patches) -> image``: a copy with
    each listed patch (numbered row by row) set to 128."""
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=_gen())
    for grid, patches in ((8, [0, 10, 63]), (4, [1, 14])):
        s = 32 // grid
        before = image.clone()
        out = _tensor(_call(fn, image, torch.rand(grid, grid), patches), image.shape)
        if not torch.equal(image, before):
            raise CheckFailed(
                "you changed the image you were given; work on a copy (image.clone())"
            )
        if out.dtype != torch.uint8:
            raise CheckFailed(f"the result is {out.dtype}; keep the image uint8")
        want = _gray(image, patches, s)
        if torch.equal(out, want):
            continue
        if torch.equal(out, _gray(image, patches, s, value=0)):
            raise CheckFailed("the patches are black (0); set them to gray, 128")
        swapped = [(p % grid) * grid + p // grid for p in patches]
        if torch.equal(out, _gray(image, swapped, s)):
            raise CheckFailed(
                "rows and columns are swapped: patch p sits at row p // G, column "
                "p % G, and rows are the image's dim 1"
            )
        changed, expected = out.ne(image).sum().item(), want.ne(image).sum().item()
        if changed != expected:
            raise CheckFailed(
                f"on a {grid}x{grid} grid, {len(patches)} patches change {expected} "
                f"values, yours {changed}: a patch is s = H // G pixels wide (image "
                "size over grid size)"
            )
        raise CheckFailed(
            "a different region is hidden: patch p covers rows (p // G) * s to "
            "(p // G + 1) * s and the same for columns (p % G), with s = H // G"
        )
    return "The hidden patches are the ones the map ranks, on any grid size."
