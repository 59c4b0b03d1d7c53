"""Chapters 0 and 1: normalizing and cropping images, patches, sin-cos positions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ... import data as _data
from ... import model as _model
from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor


@_checker
def check_normalize(fn):
    """``fn(x_uint8) -> float tensor``: scale to [0, 1], subtract the CIFAR-10 mean,
    divide by the std."""
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=_gen())
    out = _tensor(_call(fn, x.clone()), x.shape)
    if not out.is_floating_point():
        raise CheckFailed(
            f"the output is {out.dtype}; convert to float first (x.float())"
        )
    ref = _data.normalize(x)
    if _close(out, ref):
        return "Images are now zero-mean, unit-variance floats per channel."
    mean = torch.tensor(_data.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_data.STD).view(1, 3, 1, 1)
    if _close(out, (x.float() - mean) / std):
        raise CheckFailed(
            "you forgot to divide by 255: MEAN and STD are for pixel values in [0, 1]"
        )
    if _close(out, x.float() / 255.0):
        raise CheckFailed(
            "you scaled to [0, 1] but did not subtract MEAN and divide by STD"
        )
    if _close(out, (x.float() / 255.0 - mean) * std):
        raise CheckFailed("you multiplied by STD; divide by it")
    if _close(out, (x.float() / 255.0 - std) / mean):
        raise CheckFailed("you swapped MEAN and STD")
    raise CheckFailed(
        "values differ from (x / 255 - MEAN) / STD per channel (max abs diff "
        f"{_maxdiff(out, ref)})"
    )


def _crop_ref(x, padding, dy, dx):
    B, C, H, W = x.shape
    xp = F.pad(x, (padding,) * 4)
    return torch.stack(
        [xp[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W] for i in range(B)]
    )


@_checker
def check_crop(fn):
    """``fn(x, padding, dy, dx)``: zero-pad by ``padding``, cut image ``i``'s window at
    row ``dy[i]``, column ``dx[i]``."""
    g = _gen()
    x = torch.randint(1, 256, (5, 3, 8, 8), dtype=torch.uint8, generator=g)
    dy = torch.tensor([0, 4, 8, 2, 6])
    dx = torch.tensor([8, 1, 0, 5, 3])
    out = _tensor(_call(fn, x.clone(), 4, dy.clone(), dx.clone()), x.shape)
    ref = _crop_ref(x, 4, dy, dx)
    if out.dtype != x.dtype:
        raise CheckFailed(
            f"the crop changed the dtype from {x.dtype} to {out.dtype}; keep uint8"
        )
    if torch.equal(out, ref):
        return "Every image got its own window, in one batched operation or a loop."
    if torch.equal(out, _crop_ref(x, 4, dx, dy)):
        raise CheckFailed(
            "you swapped rows and columns: dy moves the window down (dim 2), dx right "
            "(dim 3)"
        )
    if torch.equal(out, _crop_ref(x, 4, dy[:1].expand(5), dx[:1].expand(5))):
        raise CheckFailed(
            "every image got the first image's offsets; use dy[i], dx[i] for image i"
        )
    if torch.equal(out, x):
        raise CheckFailed(
            "the output is the input unchanged; pad, then cut the window at (dy, dx)"
        )
    if out.eq(0).sum() != ref.eq(0).sum():
        raise CheckFailed(
            "the number of zero (padding) pixels is wrong: pad all four sides with "
            "`padding` zeros "
            "and cut at (dy, dx) in the padded image"
        )
    raise CheckFailed("the windows differ from pad-then-cut at (dy[i], dx[i])")


# ------------------------------------------------------------------------------
# 01: patches
def _patchify_ref(x, p, order="cpp", grid="row"):
    B, C, H, W = x.shape
    x = x.reshape(B, C, H // p, p, W // p, p)  # b c gh ph gw pw
    inner = {"cpp": (1, 3, 5), "ppc": (3, 5, 1)}[order]
    outer = (2, 4) if grid == "row" else (4, 2)
    return x.permute(0, *outer, *inner).reshape(B, (H // p) * (W // p), C * p * p)


@_checker
def check_patchify(fn):
    """``fn(images (B, C, H, W), patch_size) -> (B, N, C*P*P)``: patches in row-major
    order, each flattened as (C, P, P), which is the order of a conv weight ``(D, C, P,
    P)``."""
    g = _gen()
    for B, C, H, p in [(2, 3, 32, 4), (3, 2, 16, 8)]:
        x = torch.randn(B, C, H, H, generator=g)
        N = (H // p) ** 2
        out = _tensor(_call(fn, x.clone(), p), (B, N, C * p * p))
        ref = _patchify_ref(x, p)
        if torch.equal(out, ref):
            continue
        if torch.equal(out, _patchify_ref(x, p, order="ppc")):
            raise CheckFailed(
                "each patch holds the right pixels but flattened as (P, P, C); flatten "
                "it as "
                "(C, P, P) so that it lines up with a conv weight of shape (D, C, P, P)"
            )
        if torch.equal(out, _patchify_ref(x, p, grid="col")):
            raise CheckFailed(
                "your patches come in column-major order (down the first column "
                "first); "
                "go along the rows: patch index = row * (W/P) + column"
            )
        if torch.equal(out, _patchify_ref(x, p, order="ppc", grid="col")):
            raise CheckFailed(
                "patches in column-major order and flattened as (P, P, C); want "
                "row-major, (C, P, P)"
            )
        if torch.equal(out, x.reshape(B, N, C * p * p)):
            raise CheckFailed(
                "you reshaped without permuting: each 'patch' is a run of consecutive "
                "memory "
                "(whole pixel rows), not a P x P square. Reshape to (B, C, H/P, P, "
                "W/P, P) and permute"
            )
        if torch.equal(out.sort(-1).values, ref.sort(-1).values):
            raise CheckFailed(
                "each patch holds the right pixels but in a different order; flatten "
                "as (C, P, P)"
            )
        if p != 4:
            raise CheckFailed(
                f"correct for patch size 4 but not for {p} (image {H}x{H}, {C} "
                "channels): "
                "do not hard-code sizes"
            )
        raise CheckFailed(
            f"the patches differ from the reference (max abs diff {_maxdiff(out, ref)})"
        )
    return "Patchify is a reshape and a permute: no copying of pixels by hand."


def _sincos_ref(D, G, rows_first=True, interleave=False):
    pe = _model.sincos_pos_embed_2d(D, G, cls_token=False)[0].double()
    half = D // 2
    if not rows_first:
        pe = torch.cat([pe[:, half:], pe[:, :half]], dim=1)
    if interleave:  # sin, cos, sin, cos ... within each half
        q = D // 4
        parts = []
        for h in (pe[:, :half], pe[:, half:]):
            parts.append(
                torch.stack([h[:, :q], h[:, q:]], dim=-1).reshape(len(pe), half)
            )
        pe = torch.cat(parts, dim=1)
    return pe


@_checker
def check_sincos(fn):
    """``fn(embed_dim, grid_size) -> (grid_size**2, embed_dim)``: the 2-D sin-cos
    position embedding (no CLS row)."""
    for D, G in [(16, 4), (192, 8)]:
        out = _tensor(_call(fn, D, G), (G * G, D))
        out = out.double()
        if _close(out, _sincos_ref(D, G)):
            continue
        if _close(out, _sincos_ref(D, G, rows_first=False)):
            raise CheckFailed(
                "rows and columns are swapped: in this course the first half of the "
                "channels encodes the row (y), the second half the column (x). (MAE's "
                "code orders the halves the other way, column first; a port of it "
                "needs its halves swapped.)"
            )
        if _close(out, _sincos_ref(D, G, interleave=True)) or _close(
            out, _sincos_ref(D, G, False, True)
        ):
            raise CheckFailed(
                "you interleaved sin and cos; within each half, put all sines first, "
                "then all cosines"
            )
        if _close(out[:, D // 2 :], _sincos_ref(D, G)[:, D // 2 :]):
            raise CheckFailed(
                "the column half is right but the row half is not: positions go row by "
                "row, "
                "so token n sits at row n // grid_size"
            )
        raise CheckFailed(
            f"values differ from the reference for embed_dim={D}, grid_size={G} "
            f"(max abs diff {_maxdiff(out, _sincos_ref(D, G))}); "
            "frequencies are 1 / 10000 ** (i / (D/4)) for i = 0 .. D/4 - 1"
        )
    return "Nearby patches now get similar codes, with no parameter learned."


def judge_number(
    prediction,
    value: float,
    mistakes: dict[float, str],
    fallback: str,
    exact: bool = False,
):
    """Print whether the predicted number ``prediction`` (None before predicting) is
    ``value``: within 1%, or to the unit with ``exact`` (a count). A wrong one is
    explained by the message of the ``mistakes`` value (a value a usual slip gives) it
    is nearest, among those within 1% of it, else by ``fallback``. Returns whether it
    was right (None before predicting). The predict-then-check exercises whose answer
    is a count or a cost use it."""
    if prediction is None:
        print("You have not predicted yet: set your prediction and run the cell again.")
        return None

    def near(target):
        return abs(prediction - target) <= 0.01 * abs(target)

    if prediction == value or (not exact and near(value)):
        print("Your prediction was right.")
        return True
    slips = sorted((v for v in mistakes if near(v)), key=lambda v: abs(prediction - v))
    if slips and abs(prediction - slips[0]) <= abs(prediction - value):
        why = mistakes[slips[0]]
    elif near(value):
        why = f"close, but a count is exact: {_number(value)}. " + fallback
    else:
        why = fallback
    print(f"You predicted {_number(prediction)}: {why}")
    return False


def _number(x) -> str:
    """A count with thousands separators, any other number in short form."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def count_augmentations(padding: int, draws: int = 20_000) -> int:
    """How many different images :func:`vit_core.data.random_crop` with ``padding``
    and :func:`vit_core.data.random_flip` make of one image, counted over ``draws``
    random draws (a random 8x8 image, so no two crops look alike)."""
    g = _gen()
    image = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8, generator=g)
    batch = image.expand(draws, -1, -1, -1)
    out = _data.random_flip(_data.random_crop(batch, padding, generator=g), generator=g)
    return len(torch.unique(out.flatten(1), dim=0))


def reveal_augmentations(prediction, padding: int, measured: int) -> bool | None:
    """How many different images can a random crop with ``padding`` and a random flip
    make of one image? ``measured``: :func:`count_augmentations`."""
    print(
        f"Measured: {measured} different images from one, over many draws of a "
        f"random crop (padding {padding}) and a random flip."
    )
    side = 2 * padding + 1
    return judge_number(
        prediction,
        measured,
        {
            side * side: "that counts the crops only: a flip doubles them",
            4 * padding**2: "the offset runs from 0 to 2·padding, both included: "
            "2·padding + 1 positions along each axis",
            8 * padding**2: "the offset runs from 0 to 2·padding, both included: "
            "2·padding + 1 positions along each axis",
            side: "the crop moves along both axes independently: rows and columns",
        },
        "count the positions of the window's top-left corner along each axis, "
        "then the flips",
    )


def reveal_patch_cost(
    tokens_prediction, ratio_prediction, tokens: dict[int, int]
) -> bool | None:
    """Two patch sizes, two predictions: how many patch tokens the larger patches give
    (``tokens_prediction``), and how many times more attention scores a head computes
    with the smaller ones (``ratio_prediction``); None before predicting. ``tokens``:
    patch size -> the number of patches measured for each. Returns whether both were
    right (None until both are predicted)."""
    small, large = sorted(tokens)
    many, few = tokens[small], tokens[large]
    for p in (small, large):
        print(
            f"Measured: {p}x{p} patches give {tokens[p]} tokens, so "
            f"{tokens[p] ** 2:,} attention scores a head."
        )
    ratio = many**2 / few**2
    print(
        f"{small}x{small} patches cost {ratio:g} times the scores of {large}x{large}."
    )
    if tokens_prediction is None and ratio_prediction is None:
        print(
            "You have not predicted yet: set your predictions and run the cell again."
        )
        return None
    side = math.isqrt(few)
    print(f"my_tokens ({large}x{large} patches):", end=" ")
    tokens_right = judge_number(
        tokens_prediction,
        few,
        {
            side: f"that is the side of the grid; the grid holds {side}x{side} patches",
            few + 1: "that counts the CLS token too; the question asks for the patch "
            "tokens",
            many / 2: "a patch twice as wide halves the patches along each axis: a "
            "quarter as many, not half",
            many: f"that is the count for {small}x{small} patches",
            many * 4: "larger patches give fewer tokens, not more",
        },
        "the image holds (H/P)·(W/P) patches of P×P pixels",
        exact=True,
    )
    print("my_cost_ratio:", end=" ")
    ratio_right = judge_number(
        ratio_prediction,
        ratio,
        {
            many / few: "that is the ratio of the token counts; a head scores every "
            "pair of tokens, N² of them, so the ratio is squared",
            large / small: "that is the ratio of the patch sides; the tokens grow "
            "with the patches' area, and the scores with the square of the tokens",
            1 / ratio: "the other way round: smaller patches give more tokens, and so "
            "more scores",
            few / many: "the other way round: smaller patches give more tokens, and so "
            "more scores",
            (many + 1) ** 2 / (few + 1) ** 2: "that counts the CLS token with both; "
            "the question counts the patch tokens",
        },
        "one head computes N×N scores: square each token count, then divide",
        exact=True,
    )
    if tokens_right is None or ratio_right is None:
        return None
    return tokens_right and ratio_right
