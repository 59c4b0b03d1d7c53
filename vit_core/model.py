"""The Vision Transformer, small enough to read top to bottom.

Module and parameter names follow timm's ``VisionTransformer`` (``patch_embed.proj``,
``cls_token``, ``pos_embed``,
``blocks.i.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2``, ``norm``/``fc_norm``,
``head``), so a state dict of ours loads into timm and the two can be compared number
for number. A distilled model (DeiT's distillation token, ``distilled=True``) adds
``dist_token`` and ``head_dist``, as timm's ``VisionTransformerDistilled``.

Attention has two paths through the same weights:
- the fast path, ``F.scaled_dot_product_attention`` (fused kernels), used for training;
- the explicit path, softmax(QK^T / sqrt(d)) written out, used by
  :meth:`VisionTransformer.forward_attention`, which is the one documented way to read
  attention maps out of the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

# timm's ViT uses LayerNorm(eps=1e-6); matching it is what makes the parity test pass at
# 1e-5.
LN_EPS = 1e-6


@dataclass
class ViTConfig:
    img_size: int = 32
    patch_size: int = 4
    in_chans: int = 3
    num_classes: int = 10
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    pool: str = "cls"  # "cls": classify the CLS token; "avg": mean of the patch tokens
    pos_embed: str = "learned"  # "learned" or "sincos" (fixed 2-D sin-cos)
    dropout: float = 0.0  # on the embeddings, attention/MLP outputs and before the head
    # stochastic depth rate of the last block; linear from 0 in the first
    drop_path: float = 0.0
    # share of the patch tokens each training image drops before the blocks (CLS stays)
    patch_drop: float = 0.0
    # "patch": one strided conv (plain ViT); "conv": a small conv tokenizer
    stem: str = "patch"
    # widths of the conv stem's 3x3 convs
    stem_channels: tuple[int, ...] = field(default_factory=tuple)
    # DeiT's distillation token after the CLS token, read by a head of its own that
    # learns from a teacher (vit_core.distill)
    distilled: bool = False

    def __post_init__(self):
        self.stem_channels = tuple(self.stem_channels)
        if self.patch_size <= 0 or self.img_size % self.patch_size != 0:
            raise ValueError(
                f"patch size {self.patch_size} does not divide the image size "
                f"{self.img_size}"
            )
        if self.embed_dim % self.num_heads != 0:
            raise ValueError(
                f"embed_dim {self.embed_dim} is not divisible by num_heads "
                f"{self.num_heads}"
            )
        if not 0.0 <= self.patch_drop < 1.0:
            raise ValueError(f"patch_drop must be in [0, 1), got {self.patch_drop}")
        if self.pool not in ("cls", "avg"):
            raise ValueError(f"pool must be 'cls' or 'avg', not {self.pool!r}")
        if self.distilled and self.pool != "cls":
            raise ValueError(
                "a distillation token needs pool='cls' (DeiT's head reads the CLS "
                f"and distillation tokens), not pool={self.pool!r}"
            )
        if self.pos_embed not in ("learned", "sincos"):
            raise ValueError(
                f"pos_embed must be 'learned' or 'sincos', not {self.pos_embed!r}"
            )
        if self.stem not in ("patch", "conv"):
            raise ValueError(f"stem must be 'patch' or 'conv', not {self.stem!r}")
        if self.stem == "conv":
            stride = 2 ** len(self.stem_channels)
            if (
                not self.stem_channels
                or stride > self.patch_size
                or self.patch_size % stride
            ):
                raise ValueError(
                    f"a conv stem of {len(self.stem_channels)} stride-2 convs needs a "
                    "patch size that is "
                    f"a multiple of {stride}; got {self.patch_size}"
                )

    @property
    def grid_size(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stem_channels"] = list(self.stem_channels)
        return d


class PatchEmbedding(nn.Module):
    """Cut the image into non-overlapping patches and project each to a D-dim token.

    A conv with kernel = stride = patch size is exactly "flatten each patch, then one
    Linear".
    """

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.img_size, self.in_chans = img_size, in_chans
        self.proj = nn.Conv2d(
            in_chans, embed_dim, kernel_size=patch_size, stride=patch_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.in_chans, self.img_size)
        x = self.proj(x)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


class ConvStemEmbedding(nn.Module):
    """A small convolutional tokenizer (as in CCT and the ViT paper's hybrid).

    Stride-2 3x3 convs with BatchNorm and ReLU give each token a local,
    translation-equivariant view of its neighbourhood; a final conv maps to tokens of
    the requested patch grid. On small data sets this inductive bias is worth more than
    the extra FLOPs.
    """

    def __init__(
        self,
        img_size: int,
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        channels: tuple[int, ...],
    ):
        super().__init__()
        self.img_size, self.in_chans = img_size, in_chans
        layers, c_in = [], in_chans
        for c in channels:
            layers += [
                nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c),
                nn.ReLU(inplace=True),
            ]
            c_in = c
        self.stem = nn.Sequential(*layers)
        rest = patch_size // 2 ** len(channels)
        self.proj = nn.Conv2d(c_in, embed_dim, kernel_size=rest, stride=rest)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.in_chans, self.img_size)
        x = self.proj(self.stem(x))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


def check_image(x: torch.Tensor, in_chans: int, img_size: int) -> None:
    if x.ndim != 4:
        raise ValueError(
            "expected a batch of images (B, C, H, W), got a tensor of shape "
            f"{tuple(x.shape)}"
        )
    _, c, h, w = x.shape
    if c != in_chans:
        raise ValueError(
            f"expected {in_chans} channels, got {c} (input shape {tuple(x.shape)})"
        )
    if (h, w) != (img_size, img_size):
        raise ValueError(
            f"input resolution {h}x{w} does not match the model's "
            f"{img_size}x{img_size} "
            f"(its position embedding is fixed to that size)"
        )


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection."""

    def __init__(
        self, dim: int, num_heads: int, qkv_bias: bool = True, proj_drop: float = 0.0
    ):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, Dh)
        if return_attn:
            attn = (q * self.scale) @ k.transpose(-2, -1)  # (B, H, N, N)
            attn = attn.softmax(dim=-1)
            x = attn @ v  # (B, H, N, Dh)
        else:
            attn = None
            x = F.scaled_dot_product_attention(q, k, v)  # (B, H, N, Dh)
        x = x.transpose(1, 2).reshape(B, N, D)  # (B, N, D): heads concatenated
        x = self.proj_drop(self.proj(x))
        return (x, attn) if return_attn else x


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU, as timm
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch for a random subset of
    samples."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep  # rescale so the expected value is unchanged


class PatchDropout(nn.Module):
    """In training, keep a random subset of each image's patch tokens (PatchDropout,
    Liu et al. 2023): the blocks then see fewer tokens, so a step costs less. The first
    ``num_prefix`` tokens (CLS) are always kept. Nothing changes in evaluation. The
    trainer may lower ``p`` as a run goes on, so that its last steps see every
    token."""

    def __init__(self, p: float = 0.0, num_prefix: int = 0):
        super().__init__()
        self.p, self.num_prefix = p, num_prefix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        prefix, patches = x[:, : self.num_prefix], x[:, self.num_prefix :]
        B, N, D = patches.shape
        keep = max(1, round(N * (1.0 - self.p)))
        idx = torch.rand(B, N, device=x.device).argsort(dim=1)[:, :keep]  # (B, K)
        patches = patches.gather(1, idx.unsqueeze(-1).expand(-1, -1, D))  # (B, K, D)
        return torch.cat([prefix, patches], dim=1)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, proj_drop=drop)
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        if return_attn:
            a, attn = self.attn(self.norm1(x), return_attn=True)
        else:
            a, attn = self.attn(self.norm1(x)), None
        x = x + self.drop_path1(a)  # (B, N, D)
        x = x + self.drop_path2(self.mlp(self.norm2(x)))  # (B, N, D)
        return (x, attn) if return_attn else x


def sincos_pos_embed_2d(
    embed_dim: int, grid_size: int, cls_token: bool
) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding: the first half of the channels encodes the
    row, the second half the column. (MAE's code, ``meshgrid(grid_w, grid_h)``, puts
    the column first: the same scheme with its halves swapped.)"""
    if embed_dim % 4 != 0:
        raise ValueError(
            "sin-cos position embedding needs embed_dim divisible by 4, got "
            f"{embed_dim}"
        )
    coords = torch.arange(grid_size, dtype=torch.float64)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    omega = 1.0 / 10000 ** (
        torch.arange(embed_dim // 4, dtype=torch.float64) / (embed_dim / 4)
    )

    def encode(pos):  # (N,) -> (N, D/2)
        out = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([out.sin(), out.cos()], dim=1)

    emb = torch.cat([encode(gy), encode(gx)], dim=1)  # (N, D)
    if cls_token:
        emb = torch.cat([torch.zeros(1, embed_dim, dtype=emb.dtype), emb], dim=0)
    return emb.float().unsqueeze(0)  # (1, N(+1), D)


class VisionTransformer(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        D = cfg.embed_dim
        if cfg.stem == "conv":
            self.patch_embed = ConvStemEmbedding(
                cfg.img_size, cfg.patch_size, cfg.in_chans, D, cfg.stem_channels
            )
        else:
            self.patch_embed = PatchEmbedding(
                cfg.img_size, cfg.patch_size, cfg.in_chans, D
            )
        self.num_prefix_tokens = int(cfg.pool == "cls") + int(cfg.distilled)
        self.cls_token = (
            nn.Parameter(torch.zeros(1, 1, D)) if cfg.pool == "cls" else None
        )
        self.dist_token = nn.Parameter(torch.zeros(1, 1, D)) if cfg.distilled else None
        num_tokens = cfg.num_patches + self.num_prefix_tokens
        if cfg.pos_embed == "sincos":
            pe = sincos_pos_embed_2d(D, cfg.grid_size, cls_token=False)
            pe = torch.cat([pe.new_zeros(1, self.num_prefix_tokens, D), pe], dim=1)
            # A parameter that does not learn, so it still sits in the state dict under
            # timm's name.
            self.pos_embed = nn.Parameter(pe, requires_grad=False)
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, D))
        self.pos_drop = nn.Dropout(cfg.dropout)
        self.patch_drop = PatchDropout(cfg.patch_drop, self.num_prefix_tokens)
        dpr = [cfg.drop_path * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(
            Block(D, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, cfg.dropout, dpr[i])
            for i in range(cfg.depth)
        )
        # timm puts the final norm before pooling for CLS models (norm) and after it for
        # avg (fc_norm).
        self.norm = nn.LayerNorm(D, eps=LN_EPS) if cfg.pool == "cls" else nn.Identity()
        self.fc_norm = (
            nn.LayerNorm(D, eps=LN_EPS) if cfg.pool == "avg" else nn.Identity()
        )
        self.head_drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(D, cfg.num_classes)
        self.head_dist = nn.Linear(D, cfg.num_classes) if cfg.distilled else None
        self._init_weights()

    def _init_weights(self):
        if self.pos_embed.requires_grad:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        if self.dist_token is not None:
            nn.init.trunc_normal_(self.dist_token, std=0.02)  # as DeiT and timm
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # (B, N, D)
        prefix = [t for t in (self.cls_token, self.dist_token) if t is not None]
        if prefix:  # (B, P+N, D): CLS, then the distillation token, then the patches
            x = torch.cat([t.expand(x.shape[0], -1, -1) for t in prefix] + [x], dim=1)
        return self.patch_drop(self.pos_drop(x + self.pos_embed))

    def forward_head(self, x: torch.Tensor, distill: bool = False):
        x = self.norm(x)
        pooled = x[:, 0] if self.cfg.pool == "cls" else x.mean(dim=1)  # (B, D)
        logits = self.head(self.head_drop(self.fc_norm(pooled)))  # (B, num_classes)
        if self.head_dist is None:
            return logits
        dist = self.head_dist(self.head_drop(x[:, 1]))  # (B, num_classes)
        # DeiT predicts with both heads at test time; timm averages their logits
        return (logits, dist) if distill else (logits + dist) / 2

    def forward(self, x: torch.Tensor, distill: bool = False):
        """Logits (B, num_classes). A distilled model gives the mean of its two heads'
        logits, or with ``distill`` both, ``(cls_logits, dist_logits)``, for the
        distillation loss to train each head on its own target."""
        x = self.embed(x)
        for blk in self.blocks:
            x = blk(x)
        return self.forward_head(x, distill)

    def forward_attention(
        self, x: torch.Tensor, per_layer: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | list[torch.Tensor]]:
        """Logits and the softmax attention of every layer and head, via the explicit
        attention path.

        Returns ``(logits, attn)`` with ``attn`` of shape ``(B, L, H, T, T)``: L layers,
        H heads, T = tokens (the ``num_prefix_tokens`` CLS and distillation tokens
        first). Row ``q`` of ``attn[b, l, h]`` is how query token ``q`` distributes its
        attention over all tokens; each row sums to 1.

        With ``per_layer``, ``attn`` is the list of the L maps (B, H, T, T) that the
        blocks used: unlike their stacked copy they lie on the path to the logits, so
        gradients with respect to them exist (gradient-weighted rollout takes them).
        """
        x = self.embed(x)
        maps = []
        for blk in self.blocks:
            x, attn = blk(x, return_attn=True)
            maps.append(attn)
        return self.forward_head(x), maps if per_layer else torch.stack(maps, dim=1)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token"}


def count_params(model: nn.Module, trainable_only: bool = True) -> int:
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def timm_twin(cfg: ViTConfig):
    """timm's VisionTransformer (``VisionTransformerDistilled`` for a distilled
    ``cfg``) with the architecture of ``cfg``: our state dict loads into it strictly,
    so the two can be compared number for number. (timm is in the dev extras.)"""
    from timm.models.deit import VisionTransformerDistilled
    from timm.models.vision_transformer import VisionTransformer as TimmViT

    return (VisionTransformerDistilled if cfg.distilled else TimmViT)(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        num_classes=cfg.num_classes,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        qkv_bias=cfg.qkv_bias,
        global_pool="token" if cfg.pool == "cls" else "avg",
        class_token=cfg.pool == "cls",
    )
