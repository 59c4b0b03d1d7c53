"""Attention plots: ``python -m vit_core.visualize --out plots/`` (default: the shipped
checkpoint).

Writes, for test images of different classes:

- ``summary.png``: the images with their attention rollout overlaid, prediction and
  truth;
- per image ``heads_K_CLASS.png`` (every head of the last layer),
  ``rollout_K_CLASS.png`` (original | raw rollout | overlay), ``layers_K_CLASS.png``
  (attention and rollout layer by layer) and ``class_K_CLASS.png`` (the
  gradient-weighted rollout for the two most likely classes);
- ``distance.png``: mean attention distance per head against depth, trained vs an
  untrained model.

The plotting functions return matplotlib ``Figure`` objects built without pyplot, so
nothing needs a display (and a notebook shows them inline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from .attention import (
    attention_maps,
    class_rollout,
    layer_evolution,
    mean_attention_distance,
    patch_distances,
    pooled,
    rollout,
    to_grid,
)
from .data import CLASSES
from .errors import VitCoreError

CMAP = "inferno"
DISTANCE_IMAGES = 256  # test images averaged for the mean attention distance


def minmax(m) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return (m - m.min()) / max(m.max() - m.min(), 1e-12)


def show_image(ax, image: torch.Tensor, title: str = "", color: str = "black") -> None:
    """A uint8 (3, H, W) image, axes off."""
    ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")
    ax.set_title(title, fontsize=9, color=color)
    ax.axis("off")


def show_overlay(
    ax,
    image: torch.Tensor,
    grid_map,
    alpha: float = 0.55,
    title: str = "",
    color: str = "black",
) -> None:
    """The image with a (G, G) map, min-max scaled and smoothly upsampled, over it."""
    show_image(ax, image, title, color)
    size = image.shape[-1]
    ax.imshow(
        minmax(grid_map),
        cmap=CMAP,
        alpha=alpha,
        interpolation="bilinear",
        extent=(-0.5, size - 0.5, size - 0.5, -0.5),
        vmin=0,
        vmax=1,
    )


def pooled_name(pool: str) -> str:
    return (
        "CLS-token attention"
        if pool == "cls"
        else "pooled attention (mean over queries)"
    )


def summary_figure(images, labels, probs, maps, classes=CLASSES) -> Figure:
    """Row 1: test images with their true class; row 2: rollout overlay, prediction
    (green if right)."""
    n = len(images)
    fig = Figure(figsize=(1.7 * n, 4.0), layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    for k in range(n):
        pred = int(np.argmax(probs[k]))
        show_image(axes[0, k], images[k], f"true: {classes[labels[k]]}")
        ok = pred == labels[k]
        show_overlay(
            axes[1, k],
            images[k],
            maps[k],
            title=f"pred: {classes[pred]} ({probs[k][pred]:.0%})",
            color="tab:green" if ok else "tab:red",
        )
    fig.suptitle(
        "Where the model looks: attention rollout over test images", fontsize=11
    )
    return fig


def heads_figure(image, head_maps, layer: int, pool: str, title: str = "") -> Figure:
    """Each head's pooled attention in one layer, plus their mean; head_maps (H, G,
    G)."""
    H = len(head_maps)
    fig = Figure(figsize=(1.9 * (H + 2), 2.5), layout="constrained")
    axes = fig.subplots(1, H + 2)
    show_image(axes[0], image, "input")
    for h in range(H):
        show_overlay(axes[h + 1], image, head_maps[h], title=f"head {h + 1}")
    show_overlay(axes[-1], image, head_maps.mean(0), title="mean of heads")
    fig.suptitle(
        f"{title}Layer {layer + 1}: {pooled_name(pool)}, each head", fontsize=11
    )
    return fig


def rollout_figure(image, grid_map, title: str = "") -> Figure:
    """Original | raw rollout (with its scale) | overlay."""
    fig = Figure(figsize=(7.6, 2.8), layout="constrained")
    axes = fig.subplots(1, 3)
    show_image(axes[0], image, "original")
    im = axes[1].imshow(grid_map, cmap=CMAP, interpolation="nearest")
    axes[1].set_title("attention rollout", fontsize=9)
    axes[1].axis("off")
    fig.colorbar(im, ax=axes[1], shrink=0.8, label="weight of each patch")
    show_overlay(axes[2], image, grid_map, title="overlay")
    fig.suptitle(f"{title}Attention rollout through all layers", fontsize=11)
    return fig


def layers_figure(image, raw_maps, rolled_maps, title: str = "") -> Figure:
    """Layer by layer: the (head-mean) pooled attention of each layer, and the rollout
    up to it."""
    L = len(raw_maps)
    fig = Figure(figsize=(1.9 * (L + 1), 4.3), layout="constrained")
    axes = fig.subplots(2, L + 1)
    show_image(axes[0, 0], image, "input")
    axes[1, 0].axis("off")
    for l in range(L):
        show_overlay(axes[0, l + 1], image, raw_maps[l], title=f"layer {l + 1}")
        show_overlay(
            axes[1, l + 1], image, rolled_maps[l], title=f"rollout, layers 1-{l + 1}"
        )
    fig.suptitle(
        f"{title}How attention evolves with depth (mean of heads)\n"
        "top: each layer's attention; bottom: rollout up to that layer",
        fontsize=10,
    )
    return fig


def class_figure(image, maps, names, probs, title: str = "") -> Figure:
    """Original and the gradient-weighted rollout for a few classes; maps (K, G, G)."""
    K = len(maps)
    fig = Figure(figsize=(2.2 * (K + 1), 2.7), layout="constrained")
    axes = fig.subplots(1, K + 1)
    show_image(axes[0], image, "original")
    for k in range(K):
        show_overlay(
            axes[k + 1],
            image,
            maps[k],
            title=f"evidence for {names[k]} ({probs[k]:.0%})",
        )
    fig.suptitle(f"{title}Class-specific maps (gradient-weighted rollout)", fontsize=11)
    return fig


def distance_figure(
    distances: dict[str, np.ndarray], grid_size: int, patch_size: int
) -> Figure:
    """Mean attention distance (pixels) of every head against layer, one colour per
    model; values (L, H).

    The dashed line is the distance of uniform attention, which a head that spreads
    evenly gets.
    """
    import seaborn as sns

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.subplots()
    palette = sns.color_palette("deep")
    for k, (name, d) in enumerate(distances.items()):
        L, H = d.shape
        # side by side per layer
        x = np.repeat(np.arange(1, L + 1), H) + (k - 0.5) * 0.12
        ax.scatter(
            x,
            d.flatten(),
            s=36,
            color=palette[k],
            label=name,
            alpha=0.85,
            edgecolor="white",
        )
    ax.axhline(
        patch_distances(grid_size, patch_size).mean().item(),
        color="gray",
        ls="--",
        lw=1,
        label="uniform attention",
    )
    ax.set_ylim(0, None)
    ax.set_xticks(range(1, L + 1))
    ax.set_xlabel("layer (network depth)")
    ax.set_ylabel("mean attention distance (pixels)")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, loc="lower right")
    ax.set_title(
        f"Mean attention distance per head ({patch_size}x{patch_size}-pixel patches)",
        fontsize=11,
    )
    return fig


def write_plots(
    model, images, labels, out, distance_images, untrained, classes=CLASSES
) -> list[Path]:
    """Write every plot for uint8 images (B, 3, H, W); returns the paths written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    logits, attn = attention_maps(model, images)  # (B, C), (B, L, H, T, T)
    P, G, cfg = model.num_prefix_tokens, model.cfg.grid_size, model.cfg
    probs = logits.softmax(dim=1).numpy()
    # (B, L, G, G)
    rolled = to_grid(pooled(rollout(attn, num_prefix=P, cumulative=True), P), G).numpy()
    raw = to_grid(layer_evolution(attn, P), G).numpy()  # (B, L, G, G)
    last_heads = to_grid(pooled(attn[:, -1], P), G).numpy()  # (B, H, G, G)
    top2 = np.argsort(-probs, axis=1)[:, :2]  # (B, 2)
    relevance = to_grid(
        pooled(
            class_rollout(
                model, images.repeat_interleave(2, 0), torch.from_numpy(top2.flatten())
            ),
            P,
        ),
        G,
    )
    relevance = relevance.view(len(images), 2, G, G).numpy()  # (B, 2, G, G)
    written = []

    def save(fig: Figure, name: str) -> None:
        fig.savefig(out / name, dpi=130)
        written.append(out / name)

    save(
        summary_figure(images, labels.tolist(), probs, rolled[:, -1], classes),
        "summary.png",
    )
    for k, (x, y) in enumerate(zip(images, labels.tolist())):
        stem, title = (
            f"{k + 1:02d}_{classes[y]}",
            f"{classes[y]} (test image {k + 1}). ",
        )
        save(
            heads_figure(x, last_heads[k], cfg.depth - 1, cfg.pool, title),
            f"heads_{stem}.png",
        )
        save(rollout_figure(x, rolled[k, -1], title), f"rollout_{stem}.png")
        save(layers_figure(x, raw[k], rolled[k], title), f"layers_{stem}.png")
        save(
            class_figure(
                x, relevance[k], [classes[c] for c in top2[k]], probs[k, top2[k]], title
            ),
            f"class_{stem}.png",
        )
    distances = {
        name: mean_attention_distance(
            attention_maps(m, distance_images)[1], G, cfg.patch_size, P
        ).numpy()
        for name, m in (("trained", model), ("untrained (random init)", untrained))
    }
    save(distance_figure(distances, G, cfg.patch_size), "distance.png")
    return written


def main(argv=None) -> None:
    from .checkpoint import load_checkpoint
    from .data import gallery_indices, load_cifar10
    from .pretrained import add_checkpoint_flag, resolve_checkpoint
    from .registry import create_model

    p = argparse.ArgumentParser(
        prog="python -m vit_core.visualize", description=__doc__.splitlines()[0]
    )
    add_checkpoint_flag(p)
    p.add_argument("--out", default="plots", help="folder for the PNGs")
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding cifar-10-batches-py/ (default: $VIT_CORE_DATA)",
    )
    p.add_argument(
        "--num-images",
        type=int,
        default=4,
        help="test images to plot (classes taken in turn)",
    )
    args = p.parse_args(argv)
    try:
        model, card = load_checkpoint(resolve_checkpoint(args.checkpoint))
        images, labels = load_cifar10(args.data_dir, train=False)
        torch.manual_seed(0)
        untrained = create_model(card["model"], **card["config"]).eval()
        idx = gallery_indices(labels, args.num_images)
        written = write_plots(
            model,
            images[idx],
            labels[idx],
            args.out,
            images[:DISTANCE_IMAGES],
            untrained,
        )
    except VitCoreError as e:
        sys.exit(f"error: {e}")
    print("\n".join(f"wrote {p}" for p in written))


if __name__ == "__main__":
    main()
