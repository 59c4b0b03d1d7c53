"""Does an attention map point at what matters? The deletion curve of Chefer, Gur &
Wolf's perturbation test (CVPR 2021, "Transformer interpretability beyond attention
visualization").

Delete the patches of each image in an order (most relevant first, by a map), a few at
a time, and measure the accuracy after each step. A map that finds the evidence the
model uses makes the accuracy fall faster than deleting in random order, so the area
under its curve is smaller. A deleted patch takes the dataset's mean colour, which is 0
after :func:`~vit_core.data.normalize`: the model sees "no information" there rather
than a black or gray square it may read as an object.
"""

from __future__ import annotations

import torch

from .attention import class_rollout, pooled
from .data import normalize


def hide_patches(
    x: torch.Tensor, patches: torch.Tensor, patch_size: int
) -> torch.Tensor:
    """Normalized images (B, C, H, W) with patches (B, k) of each image set to 0 (the
    dataset mean); patches are numbered row by row."""
    B, _, H, W = x.shape
    cols = W // patch_size
    keep = torch.ones(B, (H // patch_size) * cols, device=x.device)
    keep.scatter_(1, patches.to(x.device), 0.0)
    keep = keep.view(B, 1, H // patch_size, cols)
    keep = keep.repeat_interleave(patch_size, 2).repeat_interleave(patch_size, 3)
    return x * keep


@torch.no_grad()
def deletion_hits(
    model, images_uint8, labels, order: torch.Tensor, step: int, batch_size: int = 250
) -> torch.Tensor:
    """(B, N/step + 1) booleans: whether each image is still classified right after
    deleting 0, step, 2*step, ..., all N patches in ``order`` (B, N): patch indices,
    first deleted first. A patch is ``model.cfg.patch_size`` pixels wide: what one token
    is made from (with a conv stem, the centre of what it sees). Kept per image so
    that a spread over images (a bootstrap) can be taken."""
    model.eval()
    device = next(model.parameters()).device
    N, p = order.shape[1], model.cfg.patch_size
    if N % step:
        raise ValueError(f"step {step} must divide the {N} patches")
    hits = []
    for start in range(0, len(images_uint8), batch_size):
        x = normalize(images_uint8[start : start + batch_size].to(device))
        y = labels[start : start + batch_size].to(device)
        rank = order[start : start + batch_size]
        hits.append(
            torch.stack(
                [
                    model(hide_patches(x, rank[:, :k], p)).argmax(-1).eq(y).cpu()
                    for k in range(0, N + 1, step)
                ],
                dim=1,
            )
        )
    return torch.cat(hits)


def deletion_curve(
    model, images_uint8, labels, order: torch.Tensor, step: int, batch_size: int = 250
) -> torch.Tensor:
    """Accuracy after deleting 0, step, 2*step, ..., all N patches of each image, in
    ``order`` (B, N) (see :func:`deletion_hits`). Returns (N/step + 1,) accuracies."""
    hits = deletion_hits(model, images_uint8, labels, order, step, batch_size)
    return hits.float().mean(dim=0)


def map_order(maps: torch.Tensor) -> torch.Tensor:
    """(B, N) maps of the patches -> (B, N) patch indices, highest value first."""
    return maps.argsort(dim=-1, descending=True)


def class_maps(model, images_uint8, batch_size: int = 250) -> torch.Tensor:
    """(B, N) class-specific maps (:func:`~vit_core.attention.class_rollout`, pooled)
    of the predicted class."""
    maps = []
    for start in range(0, len(images_uint8), batch_size):
        batch = images_uint8[start : start + batch_size]
        with torch.no_grad():
            target = model(normalize(batch.to(next(model.parameters()).device)))
        R = class_rollout(model, batch, target.argmax(-1).cpu())
        maps.append(pooled(R, model.num_prefix_tokens))
    return torch.cat(maps)


def relevance_order(model, images_uint8, batch_size: int = 250) -> torch.Tensor:
    """(B, N) patches of each image, most relevant first, by the class-specific map
    of the predicted class (:func:`class_maps`)."""
    return map_order(class_maps(model, images_uint8, batch_size))


def random_orders(n_images: int, n_patches: int, seed: int) -> torch.Tensor:
    """(B, N): a random order of the patches for each image, reproducible by seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n_images, n_patches, generator=g).argsort(dim=-1)


def area(curve: torch.Tensor) -> float:
    """Area under a deletion curve whose x axis runs from no patch to every patch
    deleted, scaled to [0, 1] (trapezoids): lower means the order found the evidence
    sooner."""
    return torch.trapezoid(curve, dx=1.0 / (len(curve) - 1)).item()


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation of each row of ``a`` with the same row of ``b``
    (B, N) -> (B,); ties are broken by position, which maps of floats rarely have."""

    def ranks(m):
        r = m.argsort(dim=-1).argsort(dim=-1).float()
        return r - r.mean(dim=-1, keepdim=True)

    ra, rb = ranks(a), ranks(b)
    return (ra * rb).sum(-1) / (ra.norm(dim=-1) * rb.norm(dim=-1))
