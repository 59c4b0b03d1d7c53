"""Do chapter 7's and 8's attention maps point at what the model uses? Measured on the
first test images, for the checkpoint the chapters study.

    python scripts/maps_faithfulness.py                # 200 images, about a minute
    python scripts/maps_faithfulness.py --images 50 --out /tmp/maps.json
    python scripts/maps_faithfulness.py --model vit_laptop_cls_e5_taught \
        --out vit_core/results/maps_vit_laptop_cls_e5_taught.json

Writes ``vit_core/results/maps_faithfulness.json`` (atomically):

- the deletion curve (``vit_core.perturbation``) of four orders: raw last-layer CLS
  attention (mean of the heads), rollout, the class-specific map of chapter 8, and
  random orders; each with its area and a 95% bootstrap interval over the images;
- the parameter-randomisation check (Adebayo et al. 2018, "Sanity checks for
  saliency maps"): the blocks re-initialised from the top down, and the rank
  correlation of each map with the trained model's;
- each map's area minus random deletion's, paired on the images, with its interval:
  a measure that can be compared between two models of different accuracy;
- how distinct the heads of a layer are: the mean correlation between two heads' CLS
  rows on the same image, and on two different images (the control);
- the rollout's and raw attention's share on the image border against the border's
  share of the grid, and the patch tokens' norms per layer.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import shlex
import sys
from pathlib import Path

import torch

from vit_core.attention import attention_maps, pooled, rollout
from vit_core.checkpoint import atomic_write_json
from vit_core.data import describe_data, load_cifar10, normalize
from vit_core.perturbation import (
    class_maps,
    deletion_hits,
    map_order,
    random_orders,
    rank_correlation,
)
from vit_core.pretrained import load_pretrained
from vit_core.records import RESULTS_DIR
from vit_core.runinfo import environment

MODEL = "vit_laptop_cls"  # the checkpoint of chapters 7 and 8
METHODS = ("raw attention", "rollout", "class-specific", "random")


def attention_views(model, images) -> dict[str, torch.Tensor]:
    """(B, N) maps of the images: raw last-layer attention (heads averaged), rollout
    and the class-specific map; and (B, L, H, N) the pooled rows of every head."""
    P = model.num_prefix_tokens
    _, attn = attention_maps(model, images)  # (B, L, H, T, T)
    return {
        "raw attention": pooled(attn[:, -1].mean(dim=1), P),
        "rollout": pooled(rollout(attn, num_prefix=P), P),
        "class-specific": class_maps(model, images),
        "heads": pooled(attn, P),
    }


def per_image_area(hits: torch.Tensor) -> torch.Tensor:
    """(B, S) hits -> (B,) area under each image's curve; their mean is the area
    under the accuracy curve (the trapezoid rule is linear)."""
    return torch.trapezoid(hits.float(), dx=1.0 / (hits.shape[1] - 1), dim=1)


def bootstrap(values: torch.Tensor, resamples: int, seed: int) -> list[float]:
    """95% interval of the mean of ``values`` (B,) over resampled images."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, len(values), (resamples, len(values)), generator=g)
    means = values[idx].mean(dim=1)
    return [means.quantile(0.025).item(), means.quantile(0.975).item()]


def randomised_from_top(model, blocks: int, seed: int):
    """A copy of the model, its heads and top ``blocks`` blocks re-initialised."""
    torch.manual_seed(seed)
    out = copy.deepcopy(model)
    heads = [h for h in (out.head, out.head_dist) if h is not None]
    for part in [*heads, *list(out.blocks)[len(out.blocks) - blocks :]]:
        for m in part.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return out.eval()


def head_correlation(heads: torch.Tensor, shift: int) -> list[float]:
    """Per layer: the mean Pearson correlation of two different heads' maps (B, L, H,
    N), head h of image b against head h' of image b + shift (0: the same image)."""
    z = heads - heads.mean(-1, keepdim=True)
    z = z / z.norm(dim=-1, keepdim=True)
    other = z.roll(shift, dims=0)
    pairs = itertools.combinations(range(heads.shape[2]), 2)
    corr = torch.stack([(z[:, :, a] * other[:, :, b]).sum(-1) for a, b in pairs])
    return corr.mean(dim=(0, 1)).tolist()  # (L,)


@torch.no_grad()
def token_norms(model, images) -> list[dict]:
    """Per layer: the patch tokens' norms after each block, max over median (mean over
    images), and the share of images whose highest-norm token is on the border."""
    P, G = model.num_prefix_tokens, model.cfg.grid_size
    outs = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: outs.append(o)) for b in model.blocks
    ]
    try:
        model(normalize(images))
    finally:
        for h in hooks:
            h.remove()
    border = border_mask(G)
    rows = []
    for o in outs:
        norms = o[:, P:].norm(dim=-1)  # (B, N)
        ratio = norms.amax(-1) / norms.median(dim=-1).values
        rows.append(
            {
                "max_over_median": ratio.mean().item(),
                "max_over_median_largest": ratio.max().item(),
                "top_token_on_border": border[norms.argmax(-1)].float().mean().item(),
            }
        )
    return rows


def border_mask(grid: int) -> torch.Tensor:
    """(N,) booleans: the patches on the outer ring of a grid x grid image."""
    r, c = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    return ((r == 0) | (c == 0) | (r == grid - 1) | (c == grid - 1)).flatten()


def measure(model, images, labels, step, seeds, resamples) -> dict:
    views = attention_views(model, images)
    n = views["rollout"].shape[1]
    hits = {
        m: deletion_hits(model, images, labels, map_order(views[m]), step)
        for m in METHODS[:-1]
    }
    rand = [
        deletion_hits(model, images, labels, random_orders(len(images), n, s), step)
        for s in range(seeds)
    ]
    hits["random"] = torch.stack(rand).float().mean(dim=0)
    deletion, chance = {}, per_image_area(hits["random"])
    for i, m in enumerate(METHODS):
        areas = per_image_area(hits[m])
        deletion[m] = {
            "area": areas.mean().item(),
            "area_95": bootstrap(areas, resamples, seed=i),
            "curve": hits[m].float().mean(dim=0).tolist(),
        }
        if m != "random":  # paired on the images: comparable across models
            gap = areas - chance
            deletion[m]["vs_random"] = gap.mean().item()
            deletion[m]["vs_random_95"] = bootstrap(gap, resamples, seed=10 + i)
    deletion["random"]["area_per_seed"] = [
        per_image_area(h).mean().item() for h in rand
    ]
    sanity = []
    for blocks in range(len(model.blocks) + 1):
        shuffled = attention_views(
            randomised_from_top(model, blocks, seed=blocks), images
        )
        sanity.append(
            {
                "blocks_reinitialised": blocks,
                **{
                    m: rank_correlation(views[m], shuffled[m]).mean().item()
                    for m in METHODS[:-1]
                },
            }
        )
    border = border_mask(model.cfg.grid_size)
    return {
        "deletion": deletion,
        "randomisation": sanity,
        "head_correlation": {
            "same_image": head_correlation(views["heads"], 0),
            "different_images": head_correlation(views["heads"], 1),
        },
        "border": {
            "grid_share": border.float().mean().item(),
            **{
                m: (views[m][:, border].sum(-1) / views[m].sum(-1)).mean().item()
                for m in ("raw attention", "rollout")
            },
        },
        "token_norms": token_norms(model, images),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=MODEL)
    p.add_argument("--images", type=int, default=200, help="the first N test images")
    p.add_argument("--step", type=int, default=8, help="patches deleted per step")
    p.add_argument("--seeds", type=int, default=3, help="random deletion orders")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "maps_faithfulness.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model, card = load_pretrained(args.model)
    images, labels = load_cifar10(train=False, download=False)
    x, y = images[: args.images], labels[: args.images]
    record = {
        "command": "python scripts/maps_faithfulness.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        **environment(torch.device("cpu")),
        "data": describe_data(),
        "model": args.model,
        "images": len(x),
        "step": args.step,
        "random_seeds": args.seeds,
        "bootstrap_resamples": args.resamples,
        **measure(model, x, y, args.step, args.seeds, args.resamples),
    }
    atomic_write_json(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
