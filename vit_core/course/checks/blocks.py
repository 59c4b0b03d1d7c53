"""Chapter 3: multi-head attention, the transformer block and its parameter count."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ... import model as _model
from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor
from .patches import judge_number


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


def _both(student: nn.Module, ref: nn.Module, what: str, dim: int):
    """The student's module with the reference's weights, and both on one input of
    width ``dim``: (x, the student's output, the reference's)."""
    _load(student, ref, what)
    x = torch.randn(2, 10, dim, generator=_gen(1))
    out = _student_out(student, x, (2, 10, dim))
    with torch.no_grad():
        return x, out, ref(x)


@_checker
def check_multihead(cls):
    """``cls(dim, num_heads)``: an nn.Module with ``qkv = Linear(dim, 3*dim)`` and
    ``proj = Linear(dim, dim)``, mapping (B, N, dim) to (B, N, dim) like
    :class:`vit_core.model.Attention`."""
    dim, H = 48, 4
    ref = _randomize(_model.Attention(dim, H)).eval()
    x, out, want = _both(_call(cls, dim, H), ref, "attention module", dim)
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
    x, out, want = _both(_call(cls, dim, H, ratio), ref, "block", dim)
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
        "tanh": "your GELU is the tanh approximation; timm and vit_core use the exact "
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


def reveal_block_params(
    prediction, block: nn.Module, dim: int, num_heads: int, mlp_ratio: float
) -> bool | None:
    """How many parameters has one pre-norm block of width ``dim``, ``num_heads``
    heads and an MLP ``mlp_ratio`` times as wide? ``prediction``: a number, or None
    before predicting; ``block``: one built with these sizes, whose parameters are
    counted. Prints the count, part by part, explains a wrong prediction, and returns
    whether it was right (None before predicting)."""
    measured = _model.count_params(block)
    parts = {
        name: _model.count_params(getattr(block, name))
        for name in ("attn", "mlp", "norm1", "norm2")
        if hasattr(block, name)
    }
    print(
        f"Measured: {measured:,} parameters in one block (D = {dim}, {num_heads} "
        f"heads, MLP ratio {mlp_ratio:g}); by part: "
        + ", ".join(f"{name} {count:,}" for name, count in parts.items())
        + "."
    )
    D, hidden = dim, int(dim * mlp_ratio)
    attention = 4 * D * D + 4 * D  # qkv (D -> 3D) and proj (D -> D), with biases
    mlp = 2 * D * hidden + hidden + D
    norms = 2 * 2 * D
    biases = 4 * D + hidden + D
    total = attention + mlp + norms
    # the slip of taking ViT-Tiny's MLP, 4D wide, for a block of another ratio
    wide = 2 * D * 4 * D + 4 * D + D
    mistakes = {
        total - norms: "you left out the two LayerNorms: a weight and a bias of D "
        "numbers each",
        total - biases: "you left out the biases of the four linear layers (qkv, "
        "proj, fc1, fc2)",
        total - biases - norms: "weights only: the linear layers' biases and the "
        "LayerNorms' weights and biases count too",
        total + (num_heads - 1) * attention: "the heads share one D×3D qkv "
        "projection and one proj: more heads, the same parameters",
        total - (D * D + D): "the attention also has its output projection, proj: "
        "D×D weights and D biases",
    }
    if wide != mlp:
        mistakes[total - mlp + wide] = (
            f"the MLP is mlp_ratio·D = {hidden} wide here, not 4D"
        )
    return judge_number(
        prediction,
        measured,
        mistakes,
        "count each linear layer (qkv, proj, fc1, fc2) as inputs × outputs weights "
        "plus one bias an output, and each LayerNorm as 2·D",
        exact=True,
    )
