"""Instant checks for the course's exercises: ``check_patchify(my_patchify)`` and
friends.

Each check runs your function and the reference implementation in :mod:`vit_core` on the
same random inputs, and then:

- prints ``check_x: correct!`` and returns ``True`` when they agree;
- prints ``check_x: not implemented yet`` and returns ``False`` when your function still
  raises ``NotImplementedError`` (so an unfinished notebook still runs top to bottom);
- raises :class:`CheckFailed` (an ``AssertionError``) with a message naming what is
  wrong otherwise: a wrong shape, rows that do not sum to 1, a forgotten scale, a
  swapped order, ...

The checks never change the global random state: they draw their inputs from their own
generator.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import attention as _attention
from .. import data as _data
from .. import mix as _mix
from .. import model as _model
from .. import schedule as _schedule

__all__ = [
    "CheckFailed",
    "check_normalize",
    "check_crop",
    "check_patchify",
    "check_sincos",
    "check_softmax",
    "check_attention",
    "check_multihead",
    "check_block",
    "check_param_count",
    "check_vit_forward",
    "check_lr_schedule",
    "check_mixup",
    "check_label_smoothing",
    "check_train_step",
    "check_confusion",
    "check_patch_merging",
    "check_window_partition",
    "check_rollout",
    "check_mean_distance",
    "check_sharpness_table",
    "check_masked_image",
]


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


# ------------------------------------------------------------------------------
# 00: data
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


# ------------------------------------------------------------------------------
# 02: attention
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


# --------------------------------------------------------------------------------- 03:
# heads and blocks
def _randomize(module: nn.Module, seed: int = 0):
    g = _gen(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if isinstance(
                _get(module, name.rsplit(".", 1)[0]), nn.LayerNorm
            ) and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return module


def _get(module, path):
    for part in path.split(".") if path else []:
        module = getattr(module, part)
    return module


def _load(student: nn.Module, ref: nn.Module, what: str):
    if not isinstance(student, nn.Module):
        raise CheckFailed(
            f"your {what} should be an nn.Module, got {type(student).__name__}"
        )
    want = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in student.state_dict().items()}
    if want != have:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        shapes = [
            f"{k}: expected {want[k]}, got {have[k]}"
            for k in sorted(set(want) & set(have))
            if want[k] != have[k]
        ]
        msg = [
            f"your {what}'s parameters do not match vit_core's names and shapes "
            "(timm's layout)."
        ]
        if missing:
            msg.append(f"missing: {', '.join(missing)}")
        if extra:
            msg.append(f"unexpected: {', '.join(extra)}")
        if shapes:
            msg.append("wrong shape: " + "; ".join(shapes))
        raise CheckFailed(" ".join(msg))
    student.load_state_dict(ref.state_dict())
    student.eval()


def _mha_ref(x, sd, H, variant="ref", prefix=""):
    B, N, D = x.shape
    Dh = D // H
    qkv = F.linear(x, sd[prefix + "qkv.weight"], sd[prefix + "qkv.bias"])
    if variant == "heads_outer":
        q, k, v = qkv.reshape(B, N, H, 3, Dh).permute(3, 0, 2, 1, 4)
    else:
        q, k, v = qkv.reshape(B, N, 3, H, Dh).permute(2, 0, 3, 1, 4)
    scale = D**-0.5 if variant == "dim_scale" else Dh**-0.5
    o = ((q @ k.transpose(-2, -1)) * scale).softmax(-1) @ v  # (B, H, N, Dh)
    o = (
        o.reshape(B, N, D)
        if variant == "no_transpose"
        else o.transpose(1, 2).reshape(B, N, D)
    )
    if variant == "no_proj":
        return o
    return F.linear(o, sd[prefix + "proj.weight"], sd[prefix + "proj.bias"])


def _student_out(student, x, shape):
    out = _call(student, x.clone())
    if isinstance(out, (tuple, list)):
        out = out[0]
    return _tensor(out, shape)


@_checker
def check_multihead(cls):
    """``cls(dim, num_heads)``: an nn.Module with ``qkv = Linear(dim, 3*dim)`` and
    ``proj = Linear(dim, dim)``, mapping (B, N, dim) to (B, N, dim) like
    :class:`vit_core.model.Attention`."""
    dim, H = 48, 4
    ref = _randomize(_model.Attention(dim, H)).eval()
    student = _call(cls, dim, H)
    _load(student, ref, "attention module")
    x = torch.randn(2, 10, dim, generator=_gen(1))
    out = _student_out(student, x, (2, 10, dim))
    with torch.no_grad():
        want = ref(x)
    if _close(out, want):
        return (
            f"Your {H}-head attention matches vit_core.model.Attention with the "
            "same weights."
        )
    sd = ref.state_dict()
    hints = {
        "dim_scale": "you scaled by 1/sqrt(dim); each head scales by "
        "1/sqrt(head_dim), head_dim = dim // num_heads",
        "heads_outer": "q, k, v are split in the wrong order: the qkv output is laid "
        "out as (3, num_heads, head_dim), "
        "so reshape to (B, N, 3, H, Dh), not (B, N, H, 3, Dh)",
        "no_transpose": "the heads are merged in the wrong order: transpose (B, H, N, "
        "Dh) to (B, N, H, Dh) "
        "before reshaping to (B, N, D)",
        "no_proj": "you forgot the output projection self.proj after merging the heads",
    }
    with torch.no_grad():
        for variant, hint in hints.items():
            if _close(out, _mha_ref(x, sd, H, variant)):
                raise CheckFailed(hint)
    raise CheckFailed(
        f"the output differs from vit_core.model.Attention with the same weights "
        f"(max abs diff {_maxdiff(out, want)})"
    )


def _block_ref(x, sd, H, variant="ref", eps=_model.LN_EPS):
    D = x.shape[-1]

    def ln(t, name):
        return F.layer_norm(t, (D,), sd[f"{name}.weight"], sd[f"{name}.bias"], eps)

    def mlp(t):
        h = F.linear(t, sd["mlp.fc1.weight"], sd["mlp.fc1.bias"])
        h = F.gelu(h, approximate="tanh" if variant == "tanh" else "none")
        return F.linear(h, sd["mlp.fc2.weight"], sd["mlp.fc2.bias"])

    def attn(t):
        return _mha_ref(t, sd, H, prefix="attn.")

    if variant == "post_norm":
        x = ln(x + attn(x), "norm1")
        return ln(x + mlp(x), "norm2")
    if variant == "no_residual":
        return mlp(ln(attn(ln(x, "norm1")), "norm2"))
    if variant == "no_attn_residual":
        x = attn(ln(x, "norm1"))
        return x + mlp(ln(x, "norm2"))
    if variant == "no_mlp_residual":
        x = x + attn(ln(x, "norm1"))
        return mlp(ln(x, "norm2"))
    x = x + attn(ln(x, "norm1"))
    return x + mlp(ln(x, "norm2"))


@_checker
def check_block(cls):
    """``cls(dim, num_heads, mlp_ratio)``: a pre-norm block with ``norm1, attn.qkv,
    attn.proj, norm2, mlp.fc1, mlp.fc2``, equal to :class:`vit_core.model.Block` in eval
    mode."""
    dim, H, ratio = 48, 4, 2.0
    ref = _randomize(_model.Block(dim, H, ratio)).eval()
    student = _call(cls, dim, H, ratio)
    _load(student, ref, "block")
    x = torch.randn(2, 10, dim, generator=_gen(1))
    out = _student_out(student, x, (2, 10, dim))
    with torch.no_grad():
        want = ref(x)
    if _close(out, want):
        return "Your block matches vit_core.model.Block: same weights, same outputs."
    sd = ref.state_dict()
    hints = {
        "post_norm": "this is a post-norm block (LayerNorm after the residual add); "
        "ViT normalizes first: "
        "x + attn(norm1(x)), then x + mlp(norm2(x))",
        "no_residual": "you forgot both residual connections: x = x + attn(norm1(x)), "
        "x = x + mlp(norm2(x))",
        "no_attn_residual": "you forgot the residual around attention: x = x + "
        "attn(norm1(x))",
        "no_mlp_residual": "you forgot the residual around the MLP: x = x + "
        "mlp(norm2(x))",
        "tanh": "your GELU is the tanh approximation; ViT (and timm) use the exact "
        "erf GELU, nn.GELU()",
    }
    with torch.no_grad():
        for variant, hint in hints.items():
            if _close(out, _block_ref(x, sd, H, variant)):
                raise CheckFailed(hint)
        if _close(out, _block_ref(x, sd, H, eps=1e-5), atol=1e-6):
            raise CheckFailed(
                "almost right: use LayerNorm(dim, eps=1e-6) as timm does (PyTorch's "
                "default is 1e-5)"
            )
        if _close(out, want, atol=1e-3, rtol=1e-2):
            raise CheckFailed(
                f"close but not equal (max abs diff {_maxdiff(out, want)}): check "
                "LayerNorm eps=1e-6 "
                "and the exact GELU"
            )
    raise CheckFailed(
        f"the output differs from vit_core.model.Block with the same weights "
        f"(max abs diff {_maxdiff(out, want)})"
    )


# ------------------------------------------------------------------------------
# 04: the ViT
def _param_parts(cfg: _model.ViTConfig) -> dict[str, int]:
    D, L, C, P, K = (
        cfg.embed_dim,
        cfg.depth,
        cfg.in_chans,
        cfg.patch_size,
        cfg.num_classes,
    )
    hidden, N = int(D * cfg.mlp_ratio), cfg.num_patches
    return {
        (
            "the CLS token, or the position embedding's slot for it "
            "(N + 1 positions, not N)"
        ): D,
        "the patch embedding's weight (D x C x P x P)": D * C * P * P,
        "the patch embedding's bias": D,
        "the position embedding": (N + 1) * D,
        "the LayerNorms inside the blocks (2 per block, weight and bias)": L * 4 * D,
        "the qkv weights (D x 3D per block)": L * 3 * D * D,
        "the qkv biases": L * 3 * D,
        "the attention output projections (D x D + D per block)": L * (D * D + D),
        "the MLPs' biases": L * (hidden + D),
        "the MLP weights (2 x D x hidden per block)": L * 2 * D * hidden,
        "the final LayerNorm": 2 * D,
        "the classification head (D x classes + classes)": D * K + K,
    }


@_checker
def check_param_count(fn):
    """``fn(cfg: ViTConfig) -> int``: the trainable parameters of a plain ViT (patch
    stem, CLS pooling, learned position embedding), computed with arithmetic, not by
    building the model."""
    cfgs = [
        _model.ViTConfig(),
        _model.ViTConfig(
            embed_dim=64, depth=2, num_heads=2, patch_size=8, num_classes=100
        ),
        _model.ViTConfig(
            embed_dim=96,
            depth=3,
            num_heads=4,
            mlp_ratio=2.0,
            in_chans=1,
            img_size=28,
            patch_size=7,
        ),
    ]
    for cfg in cfgs:
        got = _call(fn, cfg)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise CheckFailed(f"return a number, got {type(got).__name__}")
        want = _model.count_params(_model.VisionTransformer(cfg))
        if got == want:
            continue
        desc = (
            f"embed_dim={cfg.embed_dim}, depth={cfg.depth}, mlp_ratio={cfg.mlp_ratio}, "
            f"patch_size={cfg.patch_size}, "
            f"img_size={cfg.img_size}, in_chans={cfg.in_chans}, "
            f"num_classes={cfg.num_classes}"
        )
        parts = _param_parts(cfg)
        diff = want - got
        for r in (1, 2):
            for combo in itertools.combinations(parts, r):
                if sum(parts[c] for c in combo) == abs(diff):
                    what = " and ".join(combo)
                    verb = "missed" if diff > 0 else "counted extra"
                    raise CheckFailed(
                        f"for {desc}: expected {want:,}, got {got:,} ({abs(diff):,} "
                        "too "
                        f"{'few' if diff > 0 else 'many'}). You {verb} exactly {what}"
                    )
        heads = _model.ViTConfig(**{**cfg.to_dict(), "num_heads": 1})
        if _call(fn, heads) != got:
            raise CheckFailed(
                "your count changes with num_heads; it should not: the heads split the "
                "same D x 3D "
                "qkv matrix, they do not add weights"
            )
        raise CheckFailed(
            f"for {desc}: expected {want:,}, got {got:,} (off by {diff:+,})"
        )
    return "The count matches count_params for three different configurations."


@_checker
def check_vit_forward(fn):
    """``fn(model, x) -> logits``: the forward pass of a CLS-pooled ViT written from its
    parts (``patch_embed``, ``cls_token``, ``pos_embed``, ``blocks``, ``norm``,
    ``head``)."""
    torch.manual_seed(0)
    model = _model.VisionTransformer(
        _model.ViTConfig(img_size=16, embed_dim=32, depth=2, num_heads=2)
    ).eval()
    with torch.no_grad():
        model.cls_token.normal_(0, 1)  # make the CLS token matter
    x = torch.randn(3, 3, 16, 16, generator=_gen())
    out = _tensor(_call(fn, model, x.clone()), (3, 10), "logits")
    with torch.no_grad():
        want = model(x)
        if _close(out, want):
            return "Your forward pass is the model's forward pass."
        t = model.patch_embed(x)
        cls = model.cls_token.expand(3, -1, -1)

        def run(t, pos=True, norm=True, pool="cls"):
            if pos:
                t = t + model.pos_embed
            for blk in model.blocks:
                t = blk(t)
            if norm:
                t = model.norm(t)
            return model.head(
                t[:, 0] if pool == "cls" else t[:, -1] if pool == "last" else t.mean(1)
            )

        full = torch.cat([cls, t], 1)
        if _close(out, run(full, pos=False)):
            raise CheckFailed("you forgot to add the position embedding")
        if _close(out, run(full, norm=False)):
            raise CheckFailed(
                "you forgot the final LayerNorm (model.norm) before the head"
            )
        if _close(out, run(full, pool="mean")):
            raise CheckFailed(
                "you averaged all tokens; this model classifies the CLS token, x[:, 0]"
            )
        if _close(out, run(torch.cat([t, cls], 1), pool="last")) or _close(
            out, run(torch.cat([t, cls], 1))
        ):
            raise CheckFailed(
                "put the CLS token first: torch.cat([cls, patches], dim=1), then read "
                "x[:, 0]"
            )
    raise CheckFailed(
        f"the logits differ from model(x) (max abs diff {_maxdiff(out, want)})"
    )


# ------------------------------------------------------------------------------
# 05: the recipe
@_checker
def check_lr_schedule(fn):
    """``fn(step, total_steps, warmup_steps, base_lr, min_lr) -> float``: linear warmup
    over ``warmup_steps`` (``base_lr * (step + 1) / warmup_steps``), then cosine decay
    reaching ``min_lr`` at ``total_steps``."""
    for total, warm in [(100, 10), (50, 0)]:
        base, low = 1e-3, 1e-5
        got = [_call(fn, s, total, warm, base, low) for s in range(total + 1)]
        want = [_schedule.lr_at(s, total, warm, base, low) for s in range(total + 1)]
        try:
            got = [float(v) for v in got]
        except (TypeError, ValueError):
            raise CheckFailed(
                f"return a float learning rate, got {type(got[0]).__name__}"
            ) from None
        bad = [
            s
            for s in range(total + 1)
            if not math.isclose(got[s], want[s], rel_tol=1e-6, abs_tol=1e-12)
        ]
        if not bad:
            continue
        s = bad[0]
        where = (
            f"(total_steps={total}, warmup_steps={warm}, base_lr={base}, min_lr={low})"
        )
        if warm and s < warm:
            if math.isclose(got[0], 0.0, abs_tol=1e-15):
                raise CheckFailed(
                    f"your warmup starts at lr 0 {where}: step 0 would not learn at "
                    "all. "
                    "Use base_lr * (step + 1) / warmup_steps"
                )
            raise CheckFailed(
                f"the warmup is wrong at step {s} {where}: expected {want[s]:.4g}, got "
                f"{got[s]:.4g}; "
                "it rises linearly as base_lr * (step + 1) / warmup_steps"
            )
        if not math.isclose(got[total], low, rel_tol=1e-6):
            raise CheckFailed(
                f"at step total_steps={total} the lr should have decayed to "
                f"min_lr={low}, got {got[total]:.4g} "
                f"{where}"
            )
        if math.isclose(got[warm], base, rel_tol=1e-6) and s > warm:
            mid = (warm + total) // 2
            lin = base + (low - base) * (mid - warm) / (total - warm)
            if math.isclose(got[mid], lin, rel_tol=1e-3):
                raise CheckFailed(
                    "your decay is a straight line; use a cosine: "
                    "min_lr + 0.5 * (base_lr - min_lr) * (1 + cos(pi * t))"
                )
        raise CheckFailed(
            f"first wrong value at step {s} {where}: expected {want[s]:.6g}, got "
            f"{got[s]:.6g}"
        )
    return "Warmup, peak, cosine and floor all match vit_core.schedule.lr_at."


@_checker
def check_mixup(fn):
    """``fn(x, y_soft, lam) -> (x_mixed, y_mixed)``: mix every sample with the batch
    reversed (``x.flip(0)``), images and soft labels with the same ``lam``."""
    g = _gen()
    x = torch.randn(4, 3, 8, 8, generator=g)
    y = F.one_hot(torch.tensor([0, 3, 3, 7]), 10).float()
    lam = 0.7
    res = _call(fn, x.clone(), y.clone(), lam)
    if not (isinstance(res, (tuple, list)) and len(res) == 2):
        raise CheckFailed("return a pair (mixed images, mixed labels)")
    xm, ym = _tensor(res[0], x.shape, "images"), _tensor(res[1], y.shape, "labels")
    want_x, want_y = lam * x + (1 - lam) * x.flip(0), lam * y + (1 - lam) * y.flip(0)
    if not _close(xm, want_x):
        if _close(xm, (1 - lam) * x + lam * x.flip(0)):
            raise CheckFailed(
                "you swapped lam and 1 - lam: the sample keeps weight lam, its partner "
                "gets 1 - lam"
            )
        if _close(xm, x):
            raise CheckFailed(
                "the images are unchanged; mix them: lam * x + (1 - lam) * x.flip(0)"
            )
        for shift in (1, -1):
            if _close(xm, lam * x + (1 - lam) * x.roll(shift, 0)):
                raise CheckFailed(
                    "pair each sample with the batch reversed (x.flip(0)), not shifted "
                    "by one"
                )
        raise CheckFailed(
            "the images differ from lam * x + (1 - lam) * x.flip(0) (max abs diff "
            f"{_maxdiff(xm, want_x)})"
        )
    if not _close(ym, want_y):
        if _close(ym, y):
            raise CheckFailed(
                "the images are mixed but the labels are not: mix the labels with the "
                "same lam and partner"
            )
        if not torch.allclose(ym.sum(-1), torch.ones(4), atol=1e-5):
            raise CheckFailed("your mixed labels do not sum to 1 per sample")
        raise CheckFailed(
            "the labels differ from lam * y + (1 - lam) * y.flip(0) (max abs diff "
            f"{_maxdiff(ym, want_y)})"
        )
    return "Images and labels are mixed with the same weight and the same partner."


@_checker
def check_label_smoothing(fn):
    """``fn(y, num_classes, smoothing) -> (B, num_classes)`` soft targets: ``smoothing /
    K`` on every class, plus ``1 - smoothing`` on the true one (the convention of
    PyTorch and timm)."""
    y = torch.tensor([0, 4, 9, 4])
    K, eps = 10, 0.1
    out = _tensor(_call(fn, y.clone(), K, eps), (4, K))
    want = _mix.smooth_one_hot(y, K, eps)
    if _close(out, want):
        return (
            "Same targets as F.cross_entropy(..., label_smoothing=0.1) uses internally."
        )
    if not torch.allclose(out.float().sum(-1), torch.ones(4), atol=1e-5):
        raise CheckFailed(
            f"your rows do not sum to 1 (they sum to {out.float().sum(-1).tolist()}): "
            "the true class gets "
            "1 - smoothing + smoothing / K, every other class smoothing / K"
        )
    alt = torch.full((4, K), eps / (K - 1)).scatter_(1, y[:, None], 1 - eps)
    if _close(out, alt):
        raise CheckFailed(
            "you spread the smoothing over the K - 1 wrong classes; PyTorch and timm "
            "spread it over all "
            "K: off = smoothing / K, true class = 1 - smoothing + smoothing / K"
        )
    if out.argmax(-1).ne(y).any():
        raise CheckFailed("the largest value is not on the true class")
    raise CheckFailed(
        f"values differ from the reference (max abs diff {_maxdiff(out, want)})"
    )


# ------------------------------------------------------------------------------
# 06: training
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


# ------------------------------------------------------------------------------
# 09: next
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
    from ..explorer import AttentionExplorer
    from ..registry import create_model

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
    from ..perturbation import hide_patches

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


# ------------------------------------------------------------------------------
# Predict, then check: a prediction against a measurement
def reveal(prediction, options, scores: dict, noise: float, unit: str = "points"):
    """Compare ``prediction`` (one of ``options``, or None before predicting) with the
    measured ``scores`` (option -> value, higher is better; the options measured so
    far) and print the answer.

    ``noise`` is the lead the measurement can resolve: the spread between seeds, or
    the sampling error of an accuracy on few test images. A smaller lead orders
    nothing, and is called a tie, whatever was predicted. Returns the winner, or None
    for a tie or when fewer than two options are measured.
    """
    if prediction is not None and prediction not in options:
        raise CheckFailed(f"predict one of {list(options)}, not {prediction!r}")
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
            f"({noise:.2f}): this measurement cannot order them, whatever you "
            "predicted."
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
