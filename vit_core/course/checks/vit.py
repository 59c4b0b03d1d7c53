"""Chapter 4: the parameter count and the ViT's forward pass."""

from __future__ import annotations

import itertools

import torch

from ... import model as _model
from .common import CheckFailed, _call, _checker, _close, _gen, _maxdiff, _tensor


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


TRACED = ("patch_embed", "blocks", "norm", "head")


def trace_shapes(model, x) -> dict[str, tuple[int, ...]]:
    """The shape of what each part of ``model`` returns in ``model(x)``: the patch
    embedding, the stack of blocks (its last block), the final norm and the head."""
    shapes: dict[str, tuple[int, ...]] = {}
    parts = {
        "patch_embed": model.patch_embed,
        "blocks": model.blocks[-1],
        "norm": model.norm,
        "head": model.head,
    }

    def record(name):
        def hook(module, args, out):  # returning None keeps the output as it is
            shapes.setdefault(name, tuple(out.shape))

        return hook

    hooks = [part.register_forward_hook(record(name)) for name, part in parts.items()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def _shape_hint(name: str, got: tuple, want: tuple) -> str:
    """Why a predicted shape of part ``name`` is not ``want`` (B, tokens, D) or (B, K),
    for the mistakes a shape walk usually makes."""
    if name == "patch_embed" and len(got) == 3 and got[1] == want[1] + 1:
        return "the CLS token is not there yet: one token per patch, (H/P)·(W/P)"
    if name in ("blocks", "norm") and len(got) == 3 and got[1] + 1 == want[1]:
        return "the CLS token joins before the blocks: one token more than patches"
    if name in ("blocks", "norm") and len(got) == 2:
        return (
            "the blocks and the final LayerNorm keep every token; the model takes "
            "the CLS token between the norm and the head"
        )
    if name == "head" and len(got) == 3:
        return "the head reads one token per image, the CLS token: (B, classes)"
    if name == "patch_embed" and len(got) == 3 and got[-1] != want[-1]:
        return "the projection maps each patch's C·P·P pixels to the width D"
    return "follow the tokens step by step: what does each part add or take away?"


def reveal_shapes(prediction, shapes: dict[str, tuple[int, ...]]) -> bool | None:
    """Compare ``prediction`` (part -> shape, or None before predicting) with the
    ``shapes`` :func:`trace_shapes` measured, print them, and explain each wrong one.
    Returns whether every predicted shape was right (None before predicting)."""
    if prediction is not None and (
        not isinstance(prediction, dict) or set(prediction) != set(TRACED)
    ):
        raise CheckFailed(f"predict a dict with the keys {list(TRACED)}")
    for name in TRACED:
        print(f"  {name:12s} returns {shapes[name]}")
    if prediction is None:
        print("You have not predicted yet: set my_shapes and run the cell again.")
        return None
    wrong = {
        name: tuple(prediction[name] or ())
        for name in TRACED
        if tuple(prediction[name] or ()) != shapes[name]
    }
    for name, got in wrong.items():
        print(
            f"You predicted {got} for {name}, measured {shapes[name]}: "
            + _shape_hint(name, got, shapes[name])
        )
    if not wrong:
        print("Your prediction was right, every shape of it.")
    return not wrong
