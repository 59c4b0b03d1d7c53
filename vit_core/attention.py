"""Reading and summarizing a ViT's attention: raw maps, rollout, class-specific maps,
attention distance.

Every function works on the tensor that :meth:`VisionTransformer.forward_attention`
returns, ``attn`` of shape ``(B, L, H, T, T)`` (batch, layers, heads, query tokens, key
tokens; each row sums to 1). ``num_prefix`` is the number of tokens before the patches,
the model's ``num_prefix_tokens``: 1 (the CLS token) for ``pool="cls"``, 0 for
``pool="avg"``.

What does "the attention of the image" mean without a CLS token? An avg-pool model
classifies the mean of the patch tokens. In the last layer, the mean of the attention
rows is exactly the weights with which the attention sub-layer mixes the values into
that mean token, so **the mean attention over queries is the avg-pool equivalent of the
CLS row**. Like the CLS row, it describes the attention sub-layer only: the residual
path around it and the MLP after it also feed the pooled token, and no attention weight
accounts for them. :func:`pooled` reads either one, for raw attention and for rollout
alike.
"""

from __future__ import annotations

import torch

from .data import normalize
from .errors import VitCoreError
from .model import VisionTransformer


def require_vit(model) -> None:
    """Refuse a model without attention (a ResNet) by name, rather than fail later on a
    missing attribute."""
    if not isinstance(model, VisionTransformer):
        name = type(model).__name__
        raise VitCoreError(f"attention maps need a VisionTransformer, not a {name}")


def _run_attention(model, images_uint8: torch.Tensor, per_layer: bool = False):
    """``model.forward_attention`` of uint8 images (B, 3, H, W), on the model's device,
    in eval mode."""
    require_vit(model)
    model.eval()
    device = next(model.parameters()).device
    x = normalize(images_uint8.to(device))
    return model.forward_attention(x, per_layer=per_layer)


@torch.no_grad()
def attention_maps(
    model, images_uint8: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (B, C), attn (B, L, H, T, T)) of uint8 images (B, 3, H, W), via the
    explicit attention path."""
    logits, attn = _run_attention(model, images_uint8)
    return logits.float().cpu(), attn.float().cpu()


def pooled(mat: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """(..., T, T) -> (..., N): the weights with which the attention sub-layer mixes
    each patch into the classified token (residual path and MLP not included).

    CLS models: the CLS row over the patch keys. Avg-pool models: the mean over query
    rows.
    """
    if num_prefix:
        return mat[..., 0, num_prefix:]
    return mat.mean(dim=-2)


def fuse_heads(attn: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """(B, L, H, T, T) -> (B, L, T, T): mean, max or min over the heads.

    Rollout's paper averages the heads; max and min come from Gildenblat's vit-explain
    (https://github.com/jacobgil/vit-explain).
    """
    if fusion == "mean":
        return attn.mean(dim=2)
    if fusion == "max":
        return attn.amax(dim=2)
    if fusion == "min":
        return attn.amin(dim=2)
    raise ValueError(f"head fusion must be 'mean', 'max' or 'min', not {fusion!r}")


def discard_lowest(attn: torch.Tensor, ratio: float, num_prefix: int) -> torch.Tensor:
    """Zero the lowest ``ratio`` of each row (..., T, T); never the attention to itself
    or to the CLS token.

    The discard ratio comes from Gildenblat's vit-explain, which drops the lowest
    entries of the whole matrix; here each row drops its own.
    """
    T = attn.shape[-1]
    i = torch.arange(T, device=attn.device)
    # (T, T): itself, or a CLS key
    protected = (i[:, None] == i[None, :]) | (i[None, :] < num_prefix)
    # never more than the unprotected entries of a row
    k = min(int(ratio * T), T - 1 - num_prefix)
    if k <= 0:
        return attn
    # (..., T, k)
    idx = (
        attn.masked_fill(protected, float("inf")).topk(k, dim=-1, largest=False).indices
    )
    return attn.scatter(-1, idx, 0.0)


def compose(mats: torch.Tensor, cumulative: bool = False) -> torch.Tensor:
    """Chain per-layer token-mixing matrices (B, L, T, T): R_l = M_l @ R_{l-1}, R_0 =
    M_0.

    Returns R of the last layer (B, T, T), or every R_l (B, L, T, T) when
    ``cumulative``.
    """
    R, out = mats[:, 0], [mats[:, 0]]
    for l in range(1, mats.shape[1]):
        R = mats[:, l] @ R
        out.append(R)
    return torch.stack(out, dim=1) if cumulative else R


def rollout(
    attn: torch.Tensor,
    fusion: str = "mean",
    discard_ratio: float = 0.0,
    start_layer: int = 0,
    num_prefix: int = 0,
    cumulative: bool = False,
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much each output token draws on
    each input token.

    Per layer: fuse the heads, optionally discard the weakest attentions, add the
    identity for the residual connection and re-normalize the rows; then multiply the
    layers from ``start_layer`` up. With the defaults (mean fusion, no discarding) that
    is the paper's rollout, 0.5 A + 0.5 I per layer. Max/min fusion and the discard
    ratio are not in the paper: they come from Jacob Gildenblat's vit-explain
    (https://github.com/jacobgil/vit-explain). attn (B, L, H, T, T) -> (B, T, T), rows
    summing to 1 (or (B, L - start_layer, T, T) with ``cumulative``: the rollout up to
    each layer).
    """
    A = fuse_heads(attn[:, start_layer:], fusion)  # (B, L', T, T)
    if discard_ratio > 0:
        A = discard_lowest(A, discard_ratio, num_prefix)
    A = A + torch.eye(A.shape[-1], device=A.device)
    return compose(A / A.sum(dim=-1, keepdim=True), cumulative)


@torch.enable_grad()
def attention_with_grad(model, images_uint8: torch.Tensor, target: torch.Tensor):
    """(logits (B, C), attn (B, L, H, T, T), d logit[target] / d attn, same shape)."""
    logits, maps = _run_attention(model, images_uint8, per_layer=True)
    score = logits.gather(1, target.to(logits.device).view(-1, 1)).sum()
    grads = torch.autograd.grad(score, maps)
    return (
        logits.detach().cpu(),
        torch.stack(maps, 1).detach().cpu(),
        torch.stack(grads, 1).cpu(),
    )


def class_rollout(
    model, images_uint8: torch.Tensor, target, cumulative: bool = False
) -> torch.Tensor:
    """Gradient-weighted attention rollout for class ``target`` (Chefer, Gur & Wolf,
    ICCV 2021, "Generic attention-model explainability"): per layer A_bar = mean over
    heads of relu(grad * attn), and R <- R + A_bar @ R from R = I.

    Returns the relevance the layers add, R - I: (B, T, T), or (B, L, T, T) with
    ``cumulative``. Read its :func:`pooled` row for the map of the image. ``target`` is
    an int or a (B,) tensor.
    """
    target = torch.as_tensor(target).expand(images_uint8.shape[0])  # (B,)
    _, attn, grad = attention_with_grad(model, images_uint8, target)
    eye = torch.eye(attn.shape[-1])
    # (B, [L,] T, T)
    R = compose(eye + (grad * attn).clamp(min=0).mean(dim=2), cumulative)
    return R - eye


def patch_distances(grid_size: int, patch_size: int) -> torch.Tensor:
    """(N, N) Euclidean distance in pixels between the centres of patches, numbered row
    by row."""
    ys, xs = torch.meshgrid(
        torch.arange(grid_size), torch.arange(grid_size), indexing="ij"
    )
    # (N, 2)
    centres = torch.stack([ys.flatten(), xs.flatten()], dim=1).float() * patch_size
    return torch.cdist(centres, centres)


def mean_attention_distance(
    attn: torch.Tensor, grid_size: int, patch_size: int, num_prefix: int = 0
) -> torch.Tensor:
    """Mean attention distance per layer and head (ViT paper, Fig. 7): (B, L, H, T, T)
    -> (L, H) pixels.

    For each patch query: the distance to each patch key weighted by its attention
    (re-normalized over the patch keys, so the CLS token does not count), averaged over
    queries and images.
    """
    A = attn[..., num_prefix:, num_prefix:]  # (B, L, H, N, N): patch tokens only
    A = A / A.sum(dim=-1, keepdim=True)
    # (B, L, H, N)
    per_query = (A * patch_distances(grid_size, patch_size).to(A.device)).sum(dim=-1)
    return per_query.mean(dim=(0, 3))


def layer_evolution(
    attn: torch.Tensor, num_prefix: int, query: int | None = None
) -> torch.Tensor:
    """How one image's attention changes with depth: (B, L, H, T, T) -> (B, L, N), heads
    averaged.

    With ``query=None`` each layer's :func:`pooled` map, else the row of patch
    ``query``.
    """
    A = attn.mean(dim=2)  # (B, L, T, T)
    if query is None:
        return pooled(A, num_prefix)
    return A[..., num_prefix + query, num_prefix:]


def to_grid(maps: torch.Tensor, grid_size: int) -> torch.Tensor:
    """(..., N) -> (..., G, G), patches row by row."""
    return maps.reshape(*maps.shape[:-1], grid_size, grid_size)
