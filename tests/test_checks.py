"""The exercise checks accept the reference, report 'not implemented yet' for stubs, and
name typical mistakes."""

import itertools
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vit_core.course import checks, explorer_reference
from vit_core.course.checks import CheckFailed
from vit_core.data import MEAN, STD, normalize
from vit_core.mix import smooth_one_hot
from vit_core.model import (
    LN_EPS,
    Attention,
    Block,
    Mlp,
    ViTConfig,
    count_params,
    sincos_pos_embed_2d,
)
from vit_core.schedule import lr_at


def stub(*args, **kwargs):
    raise NotImplementedError


def fails(check, fn, match):
    with pytest.raises(CheckFailed, match=match):
        check(fn)


def test_stub_is_not_yet_and_does_not_raise(capsys):
    for name in checks.__all__[1:]:
        assert getattr(checks, name)(stub) is False, name
        assert "not implemented yet" in capsys.readouterr().out


def test_checks_do_not_touch_the_global_rng():
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    checks.check_vit_forward(lambda m, x: m(x))
    assert torch.equal(torch.rand(3), a)


def test_student_exception_is_reported():
    fails(checks.check_normalize, lambda x: 1 / 0, "raised ZeroDivisionError")


# ---- 00
def test_normalize(capsys):
    assert checks.check_normalize(normalize)
    assert "correct!" in capsys.readouterr().out
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    fails(checks.check_normalize, lambda x: (x.float() - mean) / std, "divide by 255")
    fails(checks.check_normalize, lambda x: x.float() / 255, "did not subtract MEAN")
    fails(checks.check_normalize, lambda x: x, "convert to float")


def crop_loop(x, padding, dy, dx):
    xp = F.pad(x, (padding,) * 4)
    H, W = x.shape[2:]
    return torch.stack(
        [xp[i, :, dy[i] : dy[i] + H, dx[i] : dx[i] + W] for i in range(len(x))]
    )


def test_crop():
    assert checks.check_crop(crop_loop)
    fails(
        checks.check_crop,
        lambda x, p, dy, dx: crop_loop(x, p, dx, dy),
        "swapped rows and columns",
    )
    fails(
        checks.check_crop,
        lambda x, p, dy, dx: crop_loop(
            x, p, dy[:1].expand(len(x)), dx[:1].expand(len(x))
        ),
        "first image's offsets",
    )
    fails(checks.check_crop, lambda x, p, dy, dx: x, "unchanged")
    fails(checks.check_crop, lambda x, p, dy, dx: x[:, :, :4], "wrong output shape")


# ---- 01
def patchify(x, p):
    B, C, H, W = x.shape
    return (
        x.reshape(B, C, H // p, p, W // p, p)
        .permute(0, 2, 4, 1, 3, 5)
        .reshape(B, -1, C * p * p)
    )


def test_patchify():
    assert checks.check_patchify(patchify)

    def channels_last(x, p):
        B, C, H, W = x.shape
        return (
            x.reshape(B, C, H // p, p, W // p, p)
            .permute(0, 2, 4, 3, 5, 1)
            .reshape(B, -1, C * p * p)
        )

    def column_major(x, p):
        B, C, H, W = x.shape
        return (
            x.reshape(B, C, H // p, p, W // p, p)
            .permute(0, 4, 2, 1, 3, 5)
            .reshape(B, -1, C * p * p)
        )

    fails(checks.check_patchify, channels_last, r"\(P, P, C\)")
    fails(checks.check_patchify, column_major, "column-major")
    fails(
        checks.check_patchify,
        lambda x, p: x.reshape(x.shape[0], -1, x.shape[1] * p * p),
        "without permuting",
    )
    fails(
        checks.check_patchify,
        lambda x, p: patchify(x, p).transpose(1, 2),
        r"wrong output shape: expected \(2, 64, 48\), got \(2, 48, 64\)",
    )
    fails(
        checks.check_patchify,
        lambda x, p: patchify(x, p) if p == 4 else patchify(x, p) * 2,
        "do not hard-code",
    )


def test_sincos():
    assert checks.check_sincos(
        lambda D, G: sincos_pos_embed_2d(D, G, cls_token=False)[0]
    )

    def swapped(D, G):
        pe = sincos_pos_embed_2d(D, G, cls_token=False)[0]
        return torch.cat([pe[:, D // 2 :], pe[:, : D // 2]], 1)

    fails(checks.check_sincos, swapped, "rows and columns are swapped")
    fails(
        checks.check_sincos,
        lambda D, G: sincos_pos_embed_2d(D, G, cls_token=True)[0],
        "wrong output shape",
    )


# ---- 02
def test_softmax():
    def stable(x):
        e = (x - x.max(-1, keepdim=True).values).exp()
        return e / e.sum(-1, keepdim=True)

    assert checks.check_softmax(stable)
    fails(
        checks.check_softmax,
        lambda x: x.exp() / x.exp().sum(-1, keepdim=True),
        "nan/inf",
    )
    fails(checks.check_softmax, lambda x: torch.softmax(x, 0), "columns sum to 1")
    fails(checks.check_softmax, lambda x: x.exp(), "rows do not sum to 1")


def attention(q, k, v, scale=None, dim=-1, kt=lambda k: k.transpose(-2, -1)):
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    a = ((q @ kt(k)) * scale).softmax(dim)
    return a @ v, a


def test_attention():
    assert checks.check_attention(attention)
    fails(
        checks.check_attention,
        lambda q, k, v: attention(q, k, v, dim=-2),
        "rows do not sum to 1, but the columns",
    )
    fails(
        checks.check_attention,
        lambda q, k, v: attention(q, k, v, scale=1.0),
        "forgot to scale",
    )
    fails(
        checks.check_attention,
        lambda q, k, v: attention(q, k, v, scale=1 / q.shape[-1]),
        "divided the scores by d",
    )
    fails(
        checks.check_attention,
        lambda q, k, v: attention(q, k, v, kt=lambda k: k.transpose(1, 2)),
        "B, H, N, d",
    )
    fails(
        checks.check_attention, lambda q, k, v: attention(q, k, v)[0], "return a pair"
    )
    fails(
        checks.check_attention,
        lambda q, k, v: (
            attention(q, k, v)[1].transpose(-2, -1) @ v,
            attention(q, k, v)[1],
        ),
        "attn\\^T @ V",
    )


# ---- 03
class MHA(nn.Module):
    def __init__(self, dim, num_heads, variant="ref"):
        super().__init__()
        self.h, self.variant = num_heads, variant
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        H, Dh = self.h, D // self.h
        q, k, v = self.qkv(x).reshape(B, N, 3, H, Dh).permute(2, 0, 3, 1, 4)
        scale = D**-0.5 if self.variant == "dim_scale" else Dh**-0.5
        o = ((q @ k.transpose(-2, -1)) * scale).softmax(-1) @ v
        o = (
            o.reshape(B, N, D)
            if self.variant == "no_transpose"
            else o.transpose(1, 2).reshape(B, N, D)
        )
        return o if self.variant == "no_proj" else self.proj(o)


def test_multihead():
    assert checks.check_multihead(MHA)
    assert checks.check_multihead(Attention)
    fails(checks.check_multihead, lambda d, h: MHA(d, h, "dim_scale"), "head_dim")
    fails(
        checks.check_multihead,
        lambda d, h: MHA(d, h, "no_transpose"),
        "heads are merged in the wrong order",
    )
    fails(
        checks.check_multihead, lambda d, h: MHA(d, h, "no_proj"), "output projection"
    )

    class Renamed(MHA):
        def __init__(self, d, h):
            super().__init__(d, h)
            self.out = self.proj
            del self.proj

    fails(checks.check_multihead, Renamed, "missing: proj.bias, proj.weight")


class MyBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, variant="ref", eps=LN_EPS):
        super().__init__()
        self.variant = variant
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = MHA(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if variant == "tanh":
            self.mlp.act = nn.GELU(approximate="tanh")

    def forward(self, x):
        if self.variant == "post_norm":
            x = self.norm1(x + self.attn(x))
            return self.norm2(x + self.mlp(x))
        if self.variant == "no_mlp_residual":
            x = x + self.attn(self.norm1(x))
            return self.mlp(self.norm2(x))
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def test_block():
    assert checks.check_block(MyBlock)
    assert checks.check_block(Block)
    fails(
        checks.check_block, lambda d, h, r: MyBlock(d, h, r, "post_norm"), "post-norm"
    )
    fails(
        checks.check_block,
        lambda d, h, r: MyBlock(d, h, r, "no_mlp_residual"),
        "residual around the MLP",
    )
    fails(
        checks.check_block,
        lambda d, h, r: MyBlock(d, h, r, "tanh"),
        "tanh approximation",
    )
    fails(checks.check_block, lambda d, h, r: MyBlock(d, h, r, eps=1e-5), "eps=1e-6")
    fails(
        checks.check_block,
        lambda d, h, r: MyBlock(d, h, 4.0),
        r"mlp.fc1.weight: expected \(96, 48\)",
    )


# ---- 04
def vit_params(cfg: ViTConfig, cls=True, pos_slots=1, head_dep=False):
    D, L, P, C, K = (
        cfg.embed_dim,
        cfg.depth,
        cfg.patch_size,
        cfg.in_chans,
        cfg.num_classes,
    )
    hid, N = int(D * cfg.mlp_ratio), cfg.num_patches
    block = 4 * D + 3 * D * D + 3 * D + D * D + D + 2 * D * hid + hid + D
    n = (
        D * C * P * P
        + D
        + (D if cls else 0)
        + (N + pos_slots) * D
        + L * block
        + 2 * D
        + D * K
        + K
    )
    return n + (cfg.num_heads if head_dep else 0)


def test_param_count():
    assert checks.check_param_count(vit_params)
    assert checks.check_param_count(
        lambda cfg: count_params(
            __import__("vit_core.model").model.VisionTransformer(cfg)
        )
    )
    fails(checks.check_param_count, lambda c: vit_params(c, cls=False), "CLS token")
    fails(
        checks.check_param_count,
        lambda c: vit_params(c) - 2 * c.embed_dim,
        "final LayerNorm",
    )
    fails(
        checks.check_param_count,
        lambda c: vit_params(c) - c.depth * 3 * c.embed_dim,
        "qkv biases",
    )
    fails(checks.check_param_count, lambda c: vit_params(c, head_dep=True), "num_heads")
    fails(checks.check_param_count, lambda c: "many", "return a number")


def test_vit_forward():
    def forward(model, x, pos=True, pool="cls"):
        t = model.patch_embed(x)
        t = torch.cat([model.cls_token.expand(len(x), -1, -1), t], 1)
        if pos:
            t = t + model.pos_embed
        for blk in model.blocks:
            t = blk(t)
        t = model.norm(t)
        return model.head(t[:, 0] if pool == "cls" else t.mean(1))

    assert checks.check_vit_forward(forward)
    fails(
        checks.check_vit_forward,
        lambda m, x: forward(m, x, pos=False),
        "position embedding",
    )
    fails(
        checks.check_vit_forward, lambda m, x: forward(m, x, pool="mean"), "CLS token"
    )


# ---- 05
def test_lr_schedule():
    assert checks.check_lr_schedule(lr_at)

    def zero_start(step, total, warm, base, low):
        return (
            base * step / warm if step < warm else lr_at(step, total, warm, base, low)
        )

    def linear(step, total, warm, base, low):
        if step < warm:
            return base * (step + 1) / warm
        return base + (low - base) * (step - warm) / (total - warm)

    def no_floor(step, total, warm, base, low):
        return lr_at(step, total, warm, base, 0.0)

    fails(checks.check_lr_schedule, zero_start, "starts at lr 0")
    fails(checks.check_lr_schedule, linear, "straight line")
    fails(checks.check_lr_schedule, no_floor, "min_lr")
    fails(checks.check_lr_schedule, lambda *a: torch.tensor([1.0, 2.0]), "float")


def test_mixup():
    def mixup(x, y, lam):
        return lam * x + (1 - lam) * x.flip(0), lam * y + (1 - lam) * y.flip(0)

    assert checks.check_mixup(mixup)
    fails(checks.check_mixup, lambda x, y, lam: mixup(x, y, 1 - lam), "swapped lam")
    fails(
        checks.check_mixup, lambda x, y, lam: (mixup(x, y, lam)[0], y), "labels are not"
    )
    fails(
        checks.check_mixup,
        lambda x, y, lam: (lam * x + (1 - lam) * x.roll(1, 0), y),
        "reversed",
    )


def test_label_smoothing():
    assert checks.check_label_smoothing(smooth_one_hot)

    def k_minus_1(y, K, eps):
        return torch.full((len(y), K), eps / (K - 1)).scatter_(1, y[:, None], 1 - eps)

    fails(checks.check_label_smoothing, k_minus_1, "K - 1")
    fails(
        checks.check_label_smoothing,
        lambda y, K, eps: F.one_hot(y, K).float() * (1 - eps),
        "do not sum to 1",
    )


# ---- 06
def test_train_step():
    def step(model, opt, x, y, zero=True, update=True, item=True):
        if zero:
            opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if update:
            opt.step()
        return loss.item() if item else loss

    assert checks.check_train_step(step)
    fails(checks.check_train_step, lambda *a: step(*a, zero=False), "zero_grad")
    fails(checks.check_train_step, lambda *a: step(*a, update=False), "did not change")
    fails(checks.check_train_step, lambda *a: step(*a, item=False), r"loss.item\(\)")


def test_confusion():
    def confusion(pred, y, k):
        return torch.bincount(y * k + pred, minlength=k * k).view(k, k)

    assert checks.check_confusion(confusion)
    fails(checks.check_confusion, lambda p, y, k: confusion(p, y, k).T, "transposed")
    fails(
        checks.check_confusion,
        lambda p, y, k: confusion(p, y, k)[:4],
        "wrong confusion matrix shape",
    )


# ---- 09
def test_patch_merging():
    def merge(x):
        return torch.cat(
            [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1
        )

    assert checks.check_patch_merging(merge)
    fails(
        checks.check_patch_merging,
        lambda x: torch.cat(
            [x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]], -1
        ),
        "different order",
    )
    fails(checks.check_patch_merging, lambda x: x[:, ::2, ::2], "wrong output shape")


def test_window_partition():
    def windows(x, ws):
        B, H, W, C = x.shape
        return (
            x.reshape(B, H // ws, ws, W // ws, ws, C)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(-1, ws * ws, C)
        )

    assert checks.check_window_partition(windows)
    fails(
        checks.check_window_partition,
        lambda x, ws: x.reshape(-1, ws * ws, x.shape[-1]),
        "without permuting",
    )


def test_check_rollout_accepts_the_reference_and_names_mistakes():
    from vit_core.attention import rollout

    assert checks.check_rollout(lambda a: rollout(a))

    def no_residual(a):
        A = a.mean(2)
        R = A[:, 0]
        for l in range(1, A.shape[1]):
            R = A[:, l] @ R
        return R

    def wrong_order(a):
        M = 0.5 * a.mean(2) + 0.5 * torch.eye(a.shape[-1])
        R = M[:, 0]
        for l in range(1, M.shape[1]):
            R = R @ M[:, l]
        return R

    with pytest.raises(checks.CheckFailed, match="residual"):
        checks.check_rollout(no_residual)
    with pytest.raises(checks.CheckFailed, match="wrong order"):
        checks.check_rollout(wrong_order)


def test_check_mean_distance_accepts_the_reference_and_catches_patch_units():
    from vit_core.attention import mean_attention_distance

    assert checks.check_mean_distance(mean_attention_distance)
    with pytest.raises(checks.CheckFailed, match="pixels"):
        checks.check_mean_distance(lambda a, g, p: mean_attention_distance(a, g, 1))


# 08: the explorer's exercises
def counts(explorer):
    """Cells above 0.5 per layer and head, in the mode and query the explorer is in."""
    out = torch.zeros(explorer.meta["layers"], explorer.meta["heads"], dtype=int)
    for layer, head in itertools.product(*map(range, out.shape)):
        explorer.layer, explorer.head = layer, head
        out[layer, head] = int((explorer.current_map() > 0.5).sum())
    return out


def test_sharpness_table_check_names_the_mistakes():
    assert checks.check_sharpness_table(explorer_reference.sharpness_table)

    def mode_left_as_found(explorer, query=27):
        explorer.query = query
        return counts(explorer)

    def query_left_as_found(explorer, query=27):
        explorer.mode = "raw"
        return counts(explorer)

    def below(explorer, query=27):
        return 16 - explorer_reference.sharpness_table(explorer, query)

    def transposed(explorer, query=27):
        return explorer_reference.sharpness_table(explorer, query).T

    check = checks.check_sharpness_table
    fails(check, mode_left_as_found, "rollout mode")
    fails(check, query_left_as_found, "pooled rows")
    fails(check, below, "at or below 0.5")
    fails(check, transposed, "wrong table shape")


def test_masked_image_check_names_the_mistakes():
    masked_image = explorer_reference.masked_image
    assert checks.check_masked_image(masked_image)

    def in_place(image, grid_map, patches):
        image[:] = masked_image(image, grid_map, patches)
        return image

    def black(image, grid_map, patches):
        out, s = image.clone(), 32 // grid_map.shape[0]
        for p in patches:
            r, c = divmod(p, grid_map.shape[0])
            out[:, r * s : (r + 1) * s, c * s : (c + 1) * s] = 0
        return out

    def swapped(image, grid_map, patches):
        g = grid_map.shape[0]
        return masked_image(image, grid_map, [(p % g) * g + p // g for p in patches])

    def grid_of_four(image, grid_map, patches):
        return masked_image(image, torch.zeros(4, 4), patches)

    def as_float(image, grid_map, patches):
        return masked_image(image, grid_map, patches).float()

    check = checks.check_masked_image
    fails(check, in_place, "changed the image")
    fails(check, black, "black")
    fails(check, swapped, "swapped")
    fails(check, grid_of_four, "pixels wide")
    fails(check, as_float, "keep the image uint8")


# Predict, then check
# ---- 10
def test_prefix_tokens_names_the_order_mistakes():
    def prefix(x, cls, dist, order=("cls", "dist", "x")):
        parts = {"cls": cls, "dist": dist}
        return torch.cat(
            [parts[p].expand(len(x), -1, -1) if p in parts else x for p in order], 1
        )

    assert checks.check_prefix_tokens(prefix)
    for order, words in [
        (("dist", "cls", "x"), "swapped"),
        (("x", "cls", "dist"), "patches come first"),
    ]:
        fails(
            checks.check_prefix_tokens,
            lambda x, c, d, order=order: prefix(x, c, d, order),
            words,
        )
    fails(checks.check_prefix_tokens, lambda x, c, d: x, "wrong output shape")


def test_hard_distillation_names_the_usual_slips():
    def hard(cls, dist, y, t, w=0.5):
        return w * F.cross_entropy(cls, y) + w * F.cross_entropy(dist, t.argmax(-1))

    assert checks.check_hard_distillation(hard)
    check = checks.check_hard_distillation
    fails(check, lambda c, d, y, t: hard(c, d, y, t, 1.0), "twice the loss")
    fails(check, lambda c, d, y, t: hard(d, c, y, t), "swapped")

    def soft(c, d, y, t):
        return 0.5 * F.cross_entropy(c, y) + 0.5 * F.cross_entropy(d, t.softmax(-1))

    fails(check, soft, "soft distillation")
    fails(check, lambda c, d, y, t: F.cross_entropy(c, y), "expected")


def test_reveal_equal_time_reads_the_rows_of_its_length(capsys):
    from vit_core.course.checks.distill import reveal_equal_time

    rows = [
        {"length": "5 epochs", "taught": True, "test": 75.0, "spread": 0.1},
        {"length": "7.5 min", "taught": False, "test": 72.0, "spread": 0.3},
        {"length": "7.5 min", "taught": True, "test": 71.0, "spread": 0.2},
    ]
    assert reveal_equal_time("taught", rows, "7.5 min") == "untaught"
    assert "says otherwise" in capsys.readouterr().out
    rows[1]["spread"] = 1.5
    assert reveal_equal_time("tie", rows, "7.5 min") is None
    assert "Your prediction was right" in capsys.readouterr().out


def test_reveal_names_a_winner_only_beyond_the_noise(capsys):
    assert checks.reveal("a", ["a", "b"], {"a": 30.0, "b": 20.0}, 5.0) == "a"
    assert "Your prediction was right" in capsys.readouterr().out
    assert checks.reveal("b", ["a", "b"], {"a": 30.0, "b": 20.0}, 5.0) == "a"
    assert "says otherwise" in capsys.readouterr().out
    assert checks.reveal("a", ["a", "b"], {"a": 22.0, "b": 20.0}, 5.0) is None
    assert "cannot order them" in capsys.readouterr().out
    assert checks.reveal(None, ["a", "b"], {"a": 30.0}, 5.0) is None
    assert "Not measured yet (measured so far: a)" in capsys.readouterr().out
    fails(lambda p: checks.reveal(p, ["a", "b"], {}, 1.0), "c", "predict one of")


def test_accuracy_noise_shrinks_with_more_test_images():
    few, many = checks.accuracy_noise([0.5], 256), checks.accuracy_noise([0.5], 10_000)
    assert few == pytest.approx(200 * (2 * 0.25 / 256) ** 0.5) and many < few / 6


def ladder_row(rung, gain, spread=1.0):
    return {"rung": rung, "name": f"trick {rung}", "gain": gain, "noise": spread}


def test_reveal_ladder_reads_the_gains(capsys):
    rows = [{"rung": 1}, ladder_row(2, 8.0), ladder_row(3, 0.5), ladder_row(4, -2.0)]
    assert checks.reveal_ladder(3, rows) == "rung 2 (trick 2)"
    assert "says otherwise" in capsys.readouterr().out
    fails(lambda p: checks.reveal_ladder(p, rows), 9, "one of \\[2, 3, 4\\]")
    assert checks.reveal_ladder(2, []) is None, "no ladder measured: no answer yet"
    flat = [{"rung": 1}, ladder_row(2, 0.4, 2.0), ladder_row(3, 0.1, 2.0)]
    assert checks.reveal_ladder(2, flat) is None
    assert "No rung gained more than the spread" in capsys.readouterr().out


def test_reveal_models_waits_for_both_models(capsys):
    runs = [{"model": "vit_tiny", "test_accuracy": 0.417}]
    both = ["resnet18", "vit_tiny"]
    assert checks.reveal_models("resnet18", both, runs) is None
    assert "measured so far: vit_tiny" in capsys.readouterr().out
    runs.append({"model": "resnet18", "test_accuracy": 0.55})
    assert checks.reveal_models("resnet18", both, runs) == "resnet18"


def test_reveal_shapes_explains_the_cls_token(capsys):
    from vit_core.course.checks.vit import reveal_shapes, trace_shapes
    from vit_core.model import VisionTransformer

    cfg = ViTConfig(img_size=16, embed_dim=32, depth=2, num_heads=2)
    model = VisionTransformer(cfg).eval()
    shapes = trace_shapes(model, torch.randn(3, 3, 16, 16))
    # 16 patches of 4x4, then the CLS token joins: the shapes of a ViT's forward pass
    right = {
        "patch_embed": (3, 16, 32),
        "blocks": (3, 17, 32),
        "norm": (3, 17, 32),
        "head": (3, 10),
    }
    assert shapes == right
    assert reveal_shapes(None, shapes) is None
    assert "not predicted yet" in capsys.readouterr().out
    assert reveal_shapes(right, shapes) is True
    no_cls = {**right, "blocks": (3, 16, 32), "head": (3, 17, 10)}
    assert reveal_shapes(no_cls, shapes) is False
    out = capsys.readouterr().out
    assert "joins before the blocks" in out and "reads one token per image" in out
    with pytest.raises(CheckFailed, match="keys"):
        reveal_shapes({"head": (3, 10)}, shapes)


def test_window_cost_and_augmentations_explain_the_usual_slips(capsys):
    from vit_core.course.checks.patches import (
        count_augmentations,
        reveal_augmentations,
    )
    from vit_core.course.checks.where_next import reveal_window_cost

    assert reveal_window_cost(64, tokens=56 * 56, window=49) is True
    assert reveal_window_cost(3136, tokens=56 * 56, window=49) is False
    assert "that is N" in capsys.readouterr().out
    # vit_core's crop offsets run from 0 to 2 * padding, both included, and flips double
    measured = count_augmentations(2)
    assert measured == 5 * 5 * 2
    assert reveal_augmentations(50, 2, measured) is True
    assert reveal_augmentations(25, 2, measured) is False
    assert "a flip doubles them" in capsys.readouterr().out
    assert reveal_augmentations(None, 2, measured) is None


def test_patch_cost_explains_the_usual_slips(capsys):
    from vit_core.course.checks.patches import reveal_patch_cost

    # 32x32 images: 4x4 patches give 64 tokens, 8x8 patches 16; scores go with N²
    image = torch.zeros(1, 3, 32, 32)
    tokens = {p: patchify(image, p).shape[1] for p in (4, 8)}
    assert tokens == {4: 64, 8: 16}
    assert reveal_patch_cost(None, None, tokens) is None
    assert "not predicted yet" in capsys.readouterr().out
    assert reveal_patch_cost(16, 16, tokens) is True
    assert reveal_patch_cost(4, 4, tokens) is False
    out = capsys.readouterr().out
    assert "side of the grid" in out and "ratio of the token counts" in out
    assert reveal_patch_cost(17, 1 / 16, tokens) is False
    out = capsys.readouterr().out
    assert "CLS token" in out and "the other way round" in out
    assert reveal_patch_cost(16, None, tokens) is None, "one prediction still to make"


def test_weight_bytes_measures_the_weights_and_explains_the_usual_slips(capsys):
    from vit_core.course.checks.attention import reveal_weight_bytes, weight_bytes

    q = torch.randn(2, 3, 16, 8)
    measured = weight_bytes(attention, q, q, q)
    assert measured == 2 * 3 * 16 * 16 * 4  # B·H·N·N float32 entries, 4 bytes each
    shape = tuple(q.shape)
    assert reveal_weight_bytes(measured, shape, measured) is True
    assert reveal_weight_bytes(2 * 3 * 16 * 16, shape, measured) is False
    assert "number of entries" in capsys.readouterr().out
    assert reveal_weight_bytes(2 * 3 * 16 * 8 * 4, shape, measured) is False
    assert "size of q, k or v" in capsys.readouterr().out
    assert reveal_weight_bytes(measured / 1e6, shape, measured) is False
    assert "megabytes" in capsys.readouterr().out


def test_block_params_counts_exactly_and_explains_the_usual_slips(capsys):
    from vit_core.course.checks.blocks import reveal_block_params

    D, H, r = 128, 4, 2.0
    block = Block(D, H, r)
    total = count_params(block)
    assert reveal_block_params(None, block, D, H, r) is None
    assert reveal_block_params(total, block, D, H, r) is True
    # without the LayerNorms: within 1% of the answer, but a count is exact
    assert reveal_block_params(total - 4 * D, block, D, H, r) is False
    assert "two LayerNorms" in capsys.readouterr().out
    per_head = total + (H - 1) * (4 * D * D + 4 * D)
    assert reveal_block_params(per_head, block, D, H, r) is False
    assert "more heads, the same parameters" in capsys.readouterr().out
    ratio_4 = total - (2 * D * 256 + 256 + D) + (2 * D * 4 * D + 4 * D + D)
    assert reveal_block_params(ratio_4, block, D, H, r) is False
    assert "not 4D" in capsys.readouterr().out


def test_uniform_distance_explains_the_usual_slips(capsys):
    from vit_core.course.checks.maps import reveal_uniform_distance

    exact = 4 * (2 + math.sqrt(2))  # (0 + 16 + 16 + 16√2) / 4
    assert reveal_uniform_distance(None, exact, 16) is None
    assert reveal_uniform_distance(13.66, exact, 16) is True
    assert reveal_uniform_distance((32 + 16 * math.sqrt(2)) / 3, exact, 16) is False
    assert "itself too" in capsys.readouterr().out
    assert reveal_uniform_distance(16, exact, 16) is False
    assert "straight line" in capsys.readouterr().out
    assert reveal_uniform_distance(0.854, exact, 16) is False
    assert "in patches" in capsys.readouterr().out
    reveal_uniform_distance(exact, 5.0, 16)
    assert "recheck the function" in capsys.readouterr().out


def map_rows(**intervals) -> list[dict]:
    return [
        {"method": m, "low": lo, "area": a, "high": hi}
        for m, (lo, a, hi) in intervals.items()
    ]


def test_best_map_is_a_tie_where_the_intervals_overlap(capsys):
    from vit_core.course.checks.maps import reveal_best_map

    rows = map_rows(
        raw=(0.29, 0.33, 0.36), rollout=(0.35, 0.38, 0.42), cls=(0.26, 0.29, 0.32),
        random=(0.38, 0.42, 0.46),
    )  # fmt: skip
    assert reveal_best_map(None, rows) is None
    assert "not predicted yet" in capsys.readouterr().out
    assert reveal_best_map("tie", rows) is None
    assert "right" in capsys.readouterr().out
    reveal_best_map("cls", rows)
    assert "neither confirmed nor refuted" in capsys.readouterr().out
    reveal_best_map("rollout", rows)
    assert "finds the evidence later" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="predict one of"):
        reveal_best_map("random", rows)


def test_best_map_has_a_winner_where_its_interval_is_below_the_others(capsys):
    from vit_core.course.checks.maps import reveal_best_map

    rows = map_rows(
        raw=(0.33, 0.35, 0.37), rollout=(0.35, 0.38, 0.42), cls=(0.26, 0.29, 0.32),
        random=(0.38, 0.42, 0.46),
    )  # fmt: skip
    assert reveal_best_map("cls", rows) == "cls"
    assert "right" in capsys.readouterr().out
    assert reveal_best_map("tie", rows) == "cls"
    assert "do order them" in capsys.readouterr().out
