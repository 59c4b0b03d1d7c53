"""The deletion curve (vit_core.perturbation) on a tiny ViT and on a model whose
evidence is known: one patch decides its prediction; and the parts that chapter 8's
measurement (scripts/maps_faithfulness.py) adds: per-image hits, a map's order, the
class-specific maps and the rank correlation of two maps."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from vit_core.data import normalize
from vit_core.perturbation import (
    area,
    class_maps,
    deletion_curve,
    deletion_hits,
    hide_patches,
    map_order,
    random_orders,
    rank_correlation,
    relevance_order,
)
from vit_core.registry import create_model


def uint8_images(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)


def tiny_vit(**overrides):
    torch.manual_seed(0)
    return create_model(
        "vit_tiny", embed_dim=16, depth=2, num_heads=2, patch_size=8, **overrides
    )


def test_hide_patches_zeroes_the_numbered_patches_row_by_row():
    x = torch.ones(2, 3, 8, 8)
    out = hide_patches(x, torch.tensor([[0], [5]]), patch_size=2)
    assert out[0, :, 0:2, 0:2].eq(0).all() and out[0].sum() == 3 * (64 - 4)
    assert out[1, :, 2:4, 2:4].eq(0).all() and out[1].sum() == 3 * (64 - 4)
    assert x.eq(1).all(), "the input is left as it was"


def test_curve_of_a_tiny_vit_has_one_point_per_step():
    model = tiny_vit()
    images, labels = uint8_images(6), torch.arange(6) % 10
    order = relevance_order(model, images, batch_size=4)
    assert order.shape == (6, 16)
    assert torch.equal(order.sort(-1).values, torch.arange(16).expand(6, 16))
    curve = deletion_curve(model, images, labels, order, step=4, batch_size=4)
    assert curve.shape == (5,) and ((curve >= 0) & (curve <= 1)).all()
    with torch.no_grad():
        clean = model(normalize(images)).argmax(-1).eq(labels).float().mean()
    assert curve[0] == clean, "nothing deleted: the clean accuracy"
    shuffled = deletion_curve(model, images, labels, random_orders(6, 16, 1), step=4)
    assert curve[-1] == shuffled[-1], "everything deleted: the order no longer matters"
    with pytest.raises(ValueError, match="must divide"):
        deletion_curve(model, images, labels, order, step=5)


class OnePatchDecides(nn.Module):
    """Class 1 when the mean of patch ``key`` (8x8 pixels) is positive, else class 0:
    only that patch is evidence."""

    def __init__(self, key: int):
        super().__init__()
        self.cfg, self.key = SimpleNamespace(patch_size=8), key
        self.unused = nn.Parameter(torch.zeros(1))  # a device to read

    def forward(self, x):
        r, c = divmod(self.key, 4)
        score = x[:, :, 8 * r : 8 * r + 8, 8 * c : 8 * c + 8].mean(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(score), score], dim=1)


def test_deleting_the_evidence_first_hurts_more_than_random_order():
    model = OnePatchDecides(key=6)
    images = torch.full((40, 3, 32, 32), 255, dtype=torch.uint8)
    labels = torch.ones(40, dtype=torch.long)
    relevant = torch.tensor([6] + [p for p in range(16) if p != 6]).expand(40, 16)
    first = deletion_curve(model, images, labels, relevant, step=1)
    rand = deletion_curve(model, images, labels, random_orders(40, 16, 0), step=1)
    assert first.tolist() == [1.0] + [0.0] * 16
    assert (rand[1:] <= rand[:-1]).all(), "once deleted, the evidence stays deleted"
    assert area(first) < area(rand) < area(torch.ones(17))
    # with the evidence equally likely at each step, about half the area remains
    assert abs(area(rand) - 0.5) < 0.1


def test_hits_keep_each_images_curve_and_average_to_the_curve():
    model = tiny_vit()
    images = uint8_images(6)
    with torch.no_grad():
        labels = model(normalize(images)).argmax(-1)  # every image right at first
    order = random_orders(6, 16, 0)
    hits = deletion_hits(model, images, labels, order, step=4, batch_size=4)
    assert hits.shape == (6, 5) and hits.dtype == torch.bool
    assert hits[:, 0].all(), "nothing deleted: each image as the model sees it"
    other = deletion_hits(model, images, labels, random_orders(6, 16, 1), step=4)
    assert torch.equal(hits[:, -1], other[:, -1]), "all deleted: order no longer counts"
    curve = deletion_curve(model, images, labels, order, step=4, batch_size=4)
    assert torch.equal(hits.float().mean(dim=0), curve)


def test_an_image_is_lost_at_the_step_that_deletes_its_evidence():
    model = OnePatchDecides(key=6)
    images = torch.full((5, 3, 32, 32), 255, dtype=torch.uint8)
    order = random_orders(5, 16, 3)
    hits = deletion_hits(model, images, torch.ones(5, dtype=torch.long), order, 2)
    position = (order == 6).int().argmax(dim=1)  # where the evidence is in the order
    deleted = torch.arange(0, 17, 2)  # patches gone at each step
    assert torch.equal(hits, deleted[None, :] <= position[:, None])
    assert (hits[:, 1:] <= hits[:, :-1]).all(), "once lost, an image stays lost"


def test_map_order_ranks_a_planted_map():
    g = torch.Generator().manual_seed(0)
    planted = torch.stack([torch.randperm(16, generator=g) for _ in range(3)])
    maps = torch.empty(3, 16)
    # patch planted[b, i] gets the i-th highest value
    maps.scatter_(1, planted, torch.linspace(1.0, 0.0, 16).expand(3, 16))
    assert torch.equal(map_order(maps), planted)
    assert torch.equal(map_order(maps * 5 + 2), planted), "only the ranking counts"


def test_rank_correlation_is_spearmans():
    maps = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    same = rank_correlation(maps, maps)
    assert same.shape == (4,) and torch.allclose(same, torch.ones(4))
    assert torch.allclose(rank_correlation(maps, maps.exp()), torch.ones(4))
    assert torch.allclose(rank_correlation(maps, -maps), -torch.ones(4))
    # one swap of neighbours in 4: 1 - 6 * 2 / (4 * 15)
    a, b = torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([[1.0, 3.0, 2.0, 4.0]])
    assert rank_correlation(a, b).item() == pytest.approx(0.8)


@pytest.mark.parametrize("pool", ["cls", "avg"])
def test_class_maps_are_one_map_per_image_whatever_the_batches(pool):
    model = tiny_vit(pool=pool).eval()
    images = uint8_images(5)
    maps = class_maps(model, images, batch_size=2)
    assert maps.shape == (5, 16) and (maps >= 0).all(), "relu'd relevance"
    assert torch.allclose(maps, class_maps(model, images, batch_size=5), atol=1e-6)
    assert torch.equal(relevance_order(model, images, batch_size=2), map_order(maps))
