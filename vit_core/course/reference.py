"""The reference solutions of the course's exercises, one per exercise.

Each is the code of the exercise's solution dropdown in the notebooks (a test keeps the
two identical). A notebook goes on with the learner's own function when its check
passes and with the one here otherwise (:func:`vit_core.course.carry.use`), so the
student notebooks, which hold no solutions, still run top to bottom.

Names inside a body (``softmax`` in :func:`attention`, ``attention`` in
:class:`MultiHeadAttention`, ``MultiHeadAttention`` in :class:`TransformerBlock`) are
looked up at call time: here they are the references, in a notebook they are whatever
the notebook carries forward, the learner's code once it passes.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import data
from ..model import LN_EPS, DropPath, Mlp


# 00: data
def normalize(x):
    mean = torch.tensor(data.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(data.STD).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def crop_at(x, padding, dy, dx):
    B, C, H, W = x.shape
    xp = F.pad(x, (padding,) * 4)  # (B, C, H+2p, W+2p)
    rows = (dy[:, None] + torch.arange(H))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(W))[:, None, None, :]  # (B, 1, 1, W)
    b = torch.arange(B)[:, None, None, None]
    c = torch.arange(C)[None, :, None, None]
    return xp[b, c, rows, cols]  # (B, C, H, W), broadcast


# 01: patches
def patchify(x, patch_size):
    B, C, H, W = x.shape
    P = patch_size
    x = x.reshape(B, C, H // P, P, W // P, P)  # split each axis: (grid, inside patch)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, H/P, W/P, C, P, P)
    return x.reshape(B, (H // P) * (W // P), C * P * P)


def sincos(embed_dim, grid_size):
    coords = torch.arange(grid_size, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")  # (G, G) each
    i = torch.arange(embed_dim // 4, dtype=torch.float64)
    omega = 1.0 / 10000 ** (i / (embed_dim / 4))

    def encode(pos):  # (G*G,) -> (G*G, D/2)
        angles = pos.reshape(-1, 1) * omega.reshape(1, -1)
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    return torch.cat([encode(rows), encode(cols)], dim=1).float()  # (G*G, D)


# 02: attention
def softmax(x):
    e = (x - x.max(dim=-1, keepdim=True).values).exp()
    return e / e.sum(dim=-1, keepdim=True)


def attention(q, k, v):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., N, N)
    weights = softmax(scores)  # each row sums to 1
    return weights @ v, weights  # (..., N, d_v), (..., N, N)


# 03: blocks
class MultiHeadAttention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        H = self.num_heads
        qkv = self.qkv(x).reshape(B, N, 3, H, D // H)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, N, D/H)
        x, _ = attention(q, k, v)  # (B, H, N, D/H), scaled by 1/sqrt(D/H)
        x = x.transpose(1, 2).reshape(B, N, D)  # concatenate the heads
        return self.proj(x)


class TransformerBlock(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0, drop_path=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = MultiHeadAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x


# 04: the model
def vit_forward(model, x):
    tokens = model.patch_embed(x)  # (B, N, D)
    cls = model.cls_token.expand(len(x), -1, -1)  # (B, 1, D)
    tokens = torch.cat([cls, tokens], dim=1) + model.pos_embed  # (B, N+1, D)
    for blk in model.blocks:
        tokens = blk(tokens)
    return model.head(model.norm(tokens)[:, 0])  # (B, classes)


def param_count(cfg):
    D, L, K = cfg.embed_dim, cfg.depth, cfg.num_classes
    M, N = int(D * cfg.mlp_ratio), cfg.num_patches
    embed = D * cfg.in_chans * cfg.patch_size**2 + D + D + (N + 1) * D
    block = 4 * D + (3 * D * D + 3 * D) + (D * D + D) + (2 * D * M + M + D)
    head = 2 * D + D * K + K
    return embed + L * block + head


# 05: training tricks
def lr_schedule(step, total_steps, warmup_steps, base_lr, min_lr):
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    t = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * min(t, 1.0)))


def smooth(y, num_classes, smoothing):
    target = torch.full((len(y), num_classes), smoothing / num_classes)
    return target.scatter_(1, y[:, None], 1 - smoothing + smoothing / num_classes)


def mixup(x, y_soft, lam):
    return lam * x + (1 - lam) * x.flip(0), lam * y_soft + (1 - lam) * y_soft.flip(0)


# 06: training
def train_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def confusion(pred, y, num_classes):
    return torch.bincount(y * num_classes + pred, minlength=num_classes**2).view(
        num_classes, num_classes
    )


def fit(model, optimizer, batches, steps, warmup, base_lr, min_lr):
    model.train()
    losses, lrs = [], []
    for step, (x, y) in zip(range(steps), batches):
        lr = lr_schedule(step, steps, warmup, base_lr, min_lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        losses.append(train_step(model, optimizer, x, y))
        lrs.append(lr)
    return losses, lrs


# 07: attention maps
def rollout(attn):
    B, L, H, T, _ = attn.shape
    eye = torch.eye(T)
    R = eye.expand(B, T, T)
    for layer in range(L):
        # the new layer acts on what came before
        R = (0.5 * attn[:, layer].mean(dim=1) + 0.5 * eye) @ R
    return R


def mean_distance(attn, grid_size, patch_size):
    rows, cols = torch.meshgrid(
        torch.arange(grid_size), torch.arange(grid_size), indexing="ij"
    )
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=1).float() * patch_size
    return (attn * torch.cdist(centres, centres)).sum(dim=-1).mean(dim=(0, 3))


# 09: where next
def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.reshape(B, H // ws, ws, W // ws, ws, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, H/ws, W/ws, ws, ws, C)
    return x.reshape(-1, ws * ws, C)


def patch_merge(x):
    corners = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
    return torch.cat(corners, dim=-1)


# 10: distillation
def prefix_tokens(x, cls_token, dist_token):
    B = x.shape[0]
    cls, dist = cls_token.expand(B, -1, -1), dist_token.expand(B, -1, -1)
    return torch.cat([cls, dist, x], dim=1)  # (B, 2 + N, D)


def hard_distillation(cls_logits, dist_logits, labels, teacher_logits):
    teacher_class = teacher_logits.argmax(dim=-1)  # (B,)
    label_loss = F.cross_entropy(cls_logits, labels)
    teacher_loss = F.cross_entropy(dist_logits, teacher_class)
    return 0.5 * label_loss + 0.5 * teacher_loss
