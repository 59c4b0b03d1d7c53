"""Attention tools on known inputs: rollout against the paper's formula, pooling,
distance, class maps."""

import math

import pytest
import torch

from vit_core.attention import (
    attention_maps,
    attention_with_grad,
    class_rollout,
    discard_lowest,
    fuse_heads,
    layer_evolution,
    mean_attention_distance,
    pooled,
    rollout,
)
from vit_core.data import normalize
from vit_core.errors import VitCoreError
from vit_core.registry import create_model


def random_attention(B=2, L=3, H=2, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    # (B, L, H, T, T)
    return (torch.randn(B, L, H, T, T, generator=g) * 2).softmax(dim=-1)


def images(n=2, seed=0):
    return torch.randint(
        0,
        256,
        (n, 3, 32, 32),
        dtype=torch.uint8,
        generator=torch.Generator().manual_seed(seed),
    )


@pytest.fixture(scope="module", params=["avg", "cls"])
def model(request):
    torch.manual_seed(0)
    return create_model("vit_laptop", depth=2, pool=request.param).eval()


def test_attention_maps_are_forward_attention_and_rows_sum_to_one(model):
    x = images()
    logits, attn = attention_maps(model, x)
    with torch.no_grad():
        ref_logits, ref_attn = model.forward_attention(normalize(x))
    T = model.cfg.num_patches + model.num_prefix_tokens
    assert attn.shape == (2, 2, 4, T, T)
    torch.testing.assert_close(attn, ref_attn)
    torch.testing.assert_close(logits, ref_logits)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 2, 4, T))


def test_rollout_matches_the_papers_formula():
    attn = random_attention()
    B, L, H, T, _ = attn.shape
    expected = torch.empty(B, T, T)
    for b in range(B):  # Abnar & Zuidema: A~_l = 0.5 W_l + 0.5 I, R = A~_L ... A~_1
        R = torch.eye(T)
        for l in range(L):
            R = (0.5 * attn[b, l].mean(0) + 0.5 * torch.eye(T)) @ R
        expected[b] = R
    torch.testing.assert_close(rollout(attn), expected)
    torch.testing.assert_close(rollout(attn, cumulative=True)[:, -1], expected)
    torch.testing.assert_close(rollout(attn, start_layer=1), rollout(attn[:, 1:]))


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard_ratio", [0.0, 0.5, 0.9])
def test_rollout_rows_sum_to_one(fusion, discard_ratio):
    R = rollout(
        random_attention(T=7),
        fusion=fusion,
        discard_ratio=discard_ratio,
        num_prefix=1,
        cumulative=True,
    )
    assert R.shape == (2, 3, 7, 7)
    torch.testing.assert_close(R.sum(-1), torch.ones(2, 3, 7))
    assert (R >= 0).all()


def test_head_fusion_on_known_values():
    # two heads, one query
    attn = torch.tensor([[0.2, 0.8], [0.6, 0.4]]).view(1, 1, 2, 1, 2)
    assert fuse_heads(attn, "mean").flatten().tolist() == pytest.approx([0.4, 0.6])
    assert fuse_heads(attn, "max").flatten().tolist() == pytest.approx([0.6, 0.8])
    assert fuse_heads(attn, "min").flatten().tolist() == pytest.approx([0.2, 0.4])
    with pytest.raises(ValueError, match="head fusion"):
        fuse_heads(attn, "median")


def test_discard_drops_the_lowest_but_never_self_or_cls():
    A = torch.rand(3, 6, 6) + 0.01
    # 3 of the 4 unprotected entries of each row
    out = discard_lowest(A, 0.5, num_prefix=1)
    assert torch.equal(out.diagonal(dim1=-2, dim2=-1), A.diagonal(dim1=-2, dim2=-1))
    assert torch.equal(out[..., 0], A[..., 0])
    assert ((out == 0).sum(-1) == 3).all()
    # unprotected entries
    kept = A.masked_fill(torch.eye(6, dtype=torch.bool) | (torch.arange(6) < 1), 0)
    # what survives among the unprotected entries is each row's largest one
    assert torch.equal((out * (kept > 0)).amax(-1), kept.amax(-1))


def test_pooled_reads_the_cls_row_or_the_mean_over_queries():
    mat = torch.arange(9.0).view(3, 3)
    assert pooled(mat, num_prefix=1).tolist() == [1.0, 2.0]  # CLS row, patch keys
    assert pooled(mat, num_prefix=0).tolist() == [3.0, 4.0, 5.0]  # mean of the rows


def test_mean_distance_of_uniform_attention_on_a_2x2_grid():
    # Patch centres 16 px apart: from any query the distances are 0, 16, 16 and
    # 16*sqrt(2).
    expected = 16 * (2 + math.sqrt(2)) / 4
    uniform = torch.full((1, 1, 1, 4, 4), 0.25)
    assert mean_attention_distance(
        uniform, grid_size=2, patch_size=16
    ).item() == pytest.approx(expected)
    # the CLS token's share is left out and the rest re-normalized
    with_cls = torch.full((1, 1, 1, 5, 5), 0.2)
    assert mean_attention_distance(
        with_cls, 2, 16, num_prefix=1
    ).item() == pytest.approx(expected)
    to_self = torch.eye(4).view(1, 1, 1, 4, 4)
    assert mean_attention_distance(to_self, 2, 16).item() == 0.0


def test_mean_distance_has_one_value_per_layer_and_head(model):
    _, attn = attention_maps(model, images())
    G, P = model.cfg.grid_size, model.num_prefix_tokens
    d = mean_attention_distance(attn, G, model.cfg.patch_size, P)
    assert d.shape == (2, 4)
    assert ((d > 0) & (d < 32 * math.sqrt(2))).all()


def test_layer_evolution_gives_one_map_per_layer():
    attn = random_attention(T=5)
    evo = layer_evolution(attn, num_prefix=1)
    assert evo.shape == (2, 3, 4)
    torch.testing.assert_close(evo, attn.mean(2)[:, :, 0, 1:])
    torch.testing.assert_close(
        layer_evolution(attn, 1, query=2), attn.mean(2)[:, :, 3, 1:]
    )


def test_gradients_are_taken_on_the_maps_the_blocks_used(model):
    # Reference: walk the blocks by hand and differentiate each block's own map.
    x, target = images(), torch.tensor([3, 5])
    h = model.embed(normalize(x))
    maps = []
    for blk in model.blocks:
        h, a = blk(h, return_attn=True)
        maps.append(a)
    ref_logits = model.forward_head(h)
    score = ref_logits.gather(1, target.view(-1, 1)).sum()
    ref_grads = torch.autograd.grad(score, maps)
    logits, attn, grad = attention_with_grad(model, x, target)
    assert torch.equal(logits, ref_logits.detach())
    assert torch.equal(attn, torch.stack(maps, 1).detach())
    assert torch.equal(grad, torch.stack(ref_grads, 1))
    assert grad.abs().amax() > 0


def test_a_model_without_attention_is_refused_by_name():
    resnet = create_model("resnet18")
    with pytest.raises(VitCoreError, match="VisionTransformer, not a ResNet18"):
        attention_maps(resnet, images())
    with pytest.raises(VitCoreError, match="VisionTransformer, not a ResNet18"):
        attention_with_grad(resnet, images(), torch.tensor([0, 1]))


def test_class_rollout_follows_the_chefer_rule(model):
    x, target = images(), torch.tensor([3, 5])
    _, attn, grad = attention_with_grad(model, x, target)
    T = attn.shape[-1]
    R = torch.eye(T).expand(2, T, T)
    for l in range(attn.shape[1]):
        R = R + (grad[:, l] * attn[:, l]).clamp(min=0).mean(1) @ R
    torch.testing.assert_close(class_rollout(model, x, target), R - torch.eye(T))


def test_class_maps_differ_between_classes(model):
    x = images(1).expand(2, -1, -1, -1)
    relevance = class_rollout(model, x, torch.tensor([0, 1]))
    maps = pooled(relevance, model.num_prefix_tokens)  # (2, N)
    assert maps.shape == (2, model.cfg.num_patches)
    a, b = ((m - m.min()) / (m.max() - m.min()) for m in maps)
    assert (a - b).abs().max() > 0.05
