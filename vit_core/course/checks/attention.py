"""Chapter 2: softmax, scaled dot-product attention, and the memory of its weights."""

from __future__ import annotations

import math

import torch

from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor
from .patches import judge_number


@_checker
def check_softmax(fn):
    """``fn(x) -> softmax over the last dimension``, numerically stable."""
    x = torch.randn(4, 7, generator=_gen())
    out = _tensor(_call(fn, x.clone()), x.shape)
    ref = torch.softmax(x, dim=-1)
    if not _close(out, ref):
        if _close(out, torch.softmax(x, dim=0)):
            raise CheckFailed(
                "you normalized over the wrong dimension: your columns sum to 1; "
                "the softmax runs over the last dimension (dim=-1)"
            )
        if not torch.allclose(out.sum(-1), torch.ones(4), atol=1e-5):
            raise CheckFailed(
                "your rows do not sum to 1: divide exp(x) by its sum over the last "
                "dimension "
                "(keepdim=True so it broadcasts)"
            )
        raise CheckFailed(
            "values differ from torch.softmax(x, dim=-1) (max abs diff "
            f"{_maxdiff(out, ref)})"
        )
    big = x * 100 + 1000
    out = _call(fn, big.clone())
    if not torch.isfinite(out).all():
        raise CheckFailed(
            "correct for small inputs but you get nan/inf for large ones (x ~ 1000): "
            "exp overflows. "
            "Subtract each row's max before exp; the result does not change"
        )
    if not _close(out, torch.softmax(big, dim=-1)):
        raise CheckFailed(
            "wrong for large inputs (x ~ 1000); subtract each row's max before exp"
        )
    return "It survives inputs of 1000, where a naive exp overflows."


def _attn_ref(q, k, v, scale=None, swap=False):
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    s = (k @ q.transpose(-2, -1) if swap else q @ k.transpose(-2, -1)) * scale
    a = s.softmax(-1)
    return a @ v, a


@_checker
def check_attention(fn):
    """``fn(q, k, v) -> (output, attention)``: softmax(Q K^T / sqrt(d)) over the keys,
    then times V."""
    g = _gen()
    B, N, d, dv = 2, 6, 8, 4
    q, k = torch.randn(B, N, d, generator=g), torch.randn(B, N, d, generator=g)
    v = torch.randn(B, N, dv, generator=g)
    res = _call(fn, q.clone(), k.clone(), v.clone())
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise CheckFailed("return a pair (output, attention weights)")
    out, attn = res
    attn = _tensor(attn, (B, N, N), "attention weights")
    ref_out, ref_attn = _attn_ref(q, k, v)
    if not torch.allclose(attn.sum(-1), torch.ones(B, N), atol=1e-5):
        if torch.allclose(attn.sum(-2), torch.ones(B, N), atol=1e-5):
            raise CheckFailed(
                "your attention rows do not sum to 1, but the columns do: take the "
                "softmax over the "
                "last dimension (the keys), dim=-1"
            )
        raise CheckFailed(
            "your attention rows do not sum to 1: apply softmax over the last dimension"
        )
    if not _close(attn, ref_attn):
        if _close(attn, _attn_ref(q, k, v, scale=1.0)[1]):
            raise CheckFailed("you forgot to scale the scores by 1 / sqrt(d)")
        if _close(attn, _attn_ref(q, k, v, scale=1.0 / d)[1]):
            raise CheckFailed("you divided the scores by d; divide by sqrt(d)")
        if _close(attn, _attn_ref(q, k, v, scale=math.sqrt(d))[1]):
            raise CheckFailed("you multiplied the scores by sqrt(d); divide by it")
        if _close(attn, _attn_ref(q, k, v, swap=True)[1]):
            raise CheckFailed(
                "you computed K Q^T: score[i, j] must be q_i . k_j, i.e. Q @ K^T"
            )
        raise CheckFailed(
            f"attention weights differ from softmax(Q K^T / sqrt(d)) (max abs diff "
            f"{_maxdiff(attn, ref_attn)})"
        )
    out = _tensor(out, (B, N, dv))
    if not _close(out, ref_out):
        if _close(out, attn.transpose(-2, -1) @ v):
            raise CheckFailed(
                "the weights are right but the output is attn^T @ V; it should be attn "
                "@ V"
            )
        raise CheckFailed(
            "the weights are right but the output is not attn @ V (max abs diff "
            f"{_maxdiff(out, ref_out)})"
        )
    # the same function must work with a head dimension: (B, H, N, d)
    q4, k4, v4 = (torch.randn(2, 3, N, d, generator=g) for _ in range(3))
    try:
        with torch.no_grad():
            out4, attn4 = fn(q4, k4, v4)
        ok = _close(out4, _attn_ref(q4, k4, v4)[0])
    except Exception:
        ok = False
    if not ok:
        raise CheckFailed(
            "correct for (B, N, d) but not for (B, H, N, d) inputs: transpose the last "
            "two "
            "dimensions, k.transpose(-2, -1), not k.transpose(1, 2) or k.T"
        )
    return "Rows sum to 1 and it works with or without a heads dimension."


def weight_bytes(attention, q, k, v) -> int:
    """The bytes of the weights that ``attention(q, k, v) -> (output, weights)``
    returns: the (..., N, N) tensor an explicit attention has to store."""
    with torch.no_grad():
        _, weights = attention(q, k, v)
    return weights.numel() * weights.element_size()


def reveal_weight_bytes(prediction, shape, measured: int) -> bool | None:
    """How many bytes do the float32 attention weights of queries of ``shape``
    (B, H, N, d) take? ``prediction``: a number of bytes, or None before predicting;
    ``measured``: :func:`weight_bytes`. Prints the answer, explains a wrong one, and
    returns whether it was right (None before predicting)."""
    B, H, N, d = shape
    entries = B * H * N * N
    per = measured / entries  # bytes an entry: 4 for float32
    print(
        f"Measured: weights of shape ({B}, {H}, {N}, {N}), {entries:,} entries of "
        f"{per:g} bytes: {measured:,} bytes ({measured / 1e6:.1f} MB)."
    )
    return judge_number(
        prediction,
        measured,
        {
            entries: f"that is the number of entries; each float32 takes {per:g} bytes",
            2 * measured: "that is float64, 8 bytes an entry; float32 takes 4",
            8 * measured: "that counts bits: a float32 is 32 bits, 4 bytes",
            per * H * N * N: "each image of the batch has its own weights: times B",
            per * B * N * N: "each head has its own N×N weights: times H",
            per * B * H * N: "every query is scored against every key: N×N weights "
            "a head, not N",
            per * B * H * N * d: "that is the size of q, k or v, N×d a head; the "
            "weights are N×N",
            measured / 1e6: "that is in megabytes; the question asks for bytes",
            measured / 2**20: "that is in mebibytes; the question asks for bytes",
        },
        "one float32 (4 bytes) for each image, head, query and key: B·H·N·N of them",
        exact=True,
    )
