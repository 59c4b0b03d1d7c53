"""Chapters 7 and 8: attention rollout, attention distance, the explorer's tables."""

from __future__ import annotations

import itertools

import torch

from ... import attention as _attention
from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor


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
