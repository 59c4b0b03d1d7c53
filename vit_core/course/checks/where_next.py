"""Chapter 9: Swin's patch merging and window partition."""

from __future__ import annotations

import itertools

import torch

from .common import CheckFailed, _call, _checker, _gen, _tensor
from .patches import judge_number


def _merge_ref(x, order=(0, 1, 2, 3)):
    parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
    return torch.cat([parts[i] for i in order], -1)


@_checker
def check_patch_merging(fn):
    """``fn(x (B, H, W, C)) -> (B, H/2, W/2, 4C)``: Swin's patch merging before its
    linear layer, concatenating the 2x2 neighbours in Swin's order: (top-left,
    bottom-left, top-right, bottom-right)."""
    x = torch.randn(2, 8, 6, 5, generator=_gen())
    out = _tensor(_call(fn, x.clone()), (2, 4, 3, 20))
    want = _merge_ref(x)
    if torch.equal(out, want):
        return "Each token now sees a 2x2 neighbourhood with 4x the channels."
    for order in itertools.permutations(range(4)):
        if torch.equal(out, _merge_ref(x, order)):
            raise CheckFailed(
                "the right four neighbours in a different order; Swin concatenates "
                "x[:, 0::2, 0::2], "
                "x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]"
            )
    raise CheckFailed(
        "the values differ from concatenating each 2x2 neighbourhood along the channels"
    )


def _windows_ref(x, ws):
    B, H, W, C = x.shape
    x = x.reshape(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, C)


@_checker
def check_window_partition(fn):
    """``fn(x (B, H, W, C), ws) -> (B * num_windows, ws*ws, C)``: non-overlapping ws x
    ws windows in row-major order, the tokens of each window in row-major order."""
    x = torch.randn(2, 8, 12, 3, generator=_gen())
    out = _tensor(_call(fn, x.clone(), 4), (2 * 2 * 3, 16, 3))
    want = _windows_ref(x, 4)
    if torch.equal(out, want):
        return "Attention inside windows costs N * ws^2 score entries instead of N^2."
    if torch.equal(out, x.reshape(-1, 16, 3)):
        raise CheckFailed(
            "you reshaped without permuting: each 'window' is a strip of consecutive "
            "pixels, not a "
            "ws x ws square. Reshape to (B, H/ws, ws, W/ws, ws, C) and permute"
        )
    if torch.equal(
        out.sort(1).values.sort(0).values, want.sort(1).values.sort(0).values
    ):
        raise CheckFailed(
            "the right windows in a different order: windows go row by row, tokens "
            "within a window too"
        )
    raise CheckFailed("the windows differ from the reference partition")


def reveal_window_cost(prediction, tokens: int, window: int) -> bool | None:
    """How many times more attention scores per head does global attention over
    ``tokens`` tokens store than attention inside windows of ``window`` tokens?
    Compare ``prediction`` (a number, or None before predicting), print the answer and
    explain a wrong one. Returns whether it was right (None before predicting)."""
    ratio = tokens * tokens / (tokens * window)
    print(
        f"Global: {tokens:,} x {tokens:,} = {tokens * tokens:,} scores; windows: "
        f"{tokens:,} x {window} = {tokens * window:,}; {ratio:g} times more."
    )
    return judge_number(
        prediction,
        ratio,
        {
            tokens: "that is N: a windowed token is compared with the M tokens of "
            "its window, so the windows store N·M scores, not N",
            window: "that is the number of tokens in a window, M; the ratio is "
            "N² / (N·M)",
            tokens * window: "that is the windowed count itself, not the ratio",
            ratio**0.5: "that is a ratio of side lengths: the cost counts tokens",
        },
        "each of the N tokens is compared with N tokens globally, with the M tokens "
        "of its window in a window",
    )
