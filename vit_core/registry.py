"""Models by name: ``create_model("vit_tiny", drop_path=0.1)``."""

from __future__ import annotations

from dataclasses import fields

import torch.nn as nn

from .airnet import AirNet
from .model import VisionTransformer, ViTConfig
from .resnet import ResNet8, ResNet18

# Depth 6 and patch 4 are the original project's CIFAR-10 settings; widths and heads
# follow ViT/DeiT's tiny and small. vit_base is ViT-B (12 layers) on 4x4 patches.
# Parameter counts are computed, never typed: see `python -m vit_core.registry`.
VIT_CONFIGS: dict[str, dict] = {
    "vit_tiny": dict(embed_dim=192, depth=6, num_heads=3),
    "vit_small": dict(embed_dim=384, depth=6, num_heads=6),
    "vit_base": dict(embed_dim=768, depth=12, num_heads=12),
    # Sized for a 2-core laptop CPU (see the laptop track in
    # vit_core/results/cpu_experiments.jsonl): a small conv tokenizer down to an 8x8
    # grid, then a narrow transformer.
    "vit_laptop": dict(
        embed_dim=128,
        depth=4,
        num_heads=4,
        mlp_ratio=2.0,
        patch_size=4,
        stem="conv",
        stem_channels=(32, 64),
        pool="avg",
        pos_embed="sincos",
    ),
}
# The same size with a plain patch embedding, for the honest plain-vs-hybrid comparison.
VIT_CONFIGS["vit_laptop_plain"] = {
    k: v for k, v in VIT_CONFIGS["vit_laptop"].items() if not k.startswith("stem")
}
# The ViT that notebooks 01-04 build (patch embedding, CLS token, learned positions) at
# the laptop size: the model the attention chapters study first.
VIT_CONFIGS["vit_laptop_cls"] = {
    **VIT_CONFIGS["vit_laptop_plain"],
    "pool": "cls",
    "pos_embed": "learned",
}
OTHER_MODELS = {"airnet": AirNet, "resnet18": ResNet18, "resnet8": ResNet8}
MODEL_NAMES = sorted(VIT_CONFIGS) + sorted(OTHER_MODELS)
_VIT_FIELDS = {f.name for f in fields(ViTConfig)}


def model_config(name: str, **overrides) -> dict:
    """The keyword arguments that build ``name``: its preset updated by
    ``overrides``."""
    if name in VIT_CONFIGS:
        unknown = set(overrides) - _VIT_FIELDS
        if unknown:
            raise ValueError(
                f"unknown option(s) for {name}: {', '.join(sorted(unknown))}"
            )
        return {**VIT_CONFIGS[name], **overrides}
    if name in OTHER_MODELS:
        return {
            k: v
            for k, v in overrides.items()
            if k in ("num_classes", "in_chans", "img_size")
        }
    raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODEL_NAMES)}")


def create_model(name: str, **overrides) -> nn.Module:
    """Build a model by name. ViT options (``ViTConfig`` fields) override the preset.

    ResNets take only ``num_classes``, ``in_chans`` and ``img_size``; regularization
    options meant for ViTs (``drop_path``, ``dropout``) are ignored for it.
    """
    kwargs = model_config(name, **overrides)
    if name in VIT_CONFIGS:
        return VisionTransformer(ViTConfig(**kwargs))
    return OTHER_MODELS[name](**kwargs)


def flops_per_image(model: nn.Module, img_size: int = 32, in_chans: int = 3) -> int:
    """Floating-point operations of one forward pass on one image (a multiply-add
    counts 2), as torch's FLOP counter tallies matrix products and convolutions;
    elementwise work (norms, softmax, activations) is left out, as is usual."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    x, training = torch.zeros(1, in_chans, img_size, img_size), model.training
    # The counter has no formula for the fused CPU attention kernel; the math one is
    # made of matrix products it does count.
    with (
        FlopCounterMode(display=False) as counter,
        sdpa_kernel(SDPBackend.MATH),
        torch.no_grad(),
    ):
        model.eval()(x)
    model.train(training)
    return counter.get_total_flops()


def main():
    from .model import count_params

    for name in MODEL_NAMES:
        model = create_model(name)
        print(
            f"{name:18s} {count_params(model) / 1e6:7.3f}M trainable parameters "
            f"{flops_per_image(model) / 1e6:9.1f} MFLOPs per image"
        )


if __name__ == "__main__":
    main()
