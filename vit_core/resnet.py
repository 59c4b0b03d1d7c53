"""ResNets for CIFAR (3x3 stem, no max-pool): ResNet-18, the convolutional baseline
the original project compares against, and ResNet-8, one sized for a laptop CPU."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import check_image


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stages of basic blocks; every stage after the first halves the grid and the
    last is averaged into the classifier."""

    def __init__(
        self,
        widths: tuple[int, ...],
        blocks: tuple[int, ...],
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int = 32,
    ):
        super().__init__()
        self.in_chans, self.img_size = in_chans, img_size
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c_in = widths[0]
        self.stages = []
        for i, (c_out, n) in enumerate(zip(widths, blocks)):
            stage = nn.Sequential(
                BasicBlock(c_in, c_out, 1 if i == 0 else 2),
                *[BasicBlock(c_out, c_out, 1) for _ in range(n - 1)],
            )
            # timm/torchvision's names (layer1, ...), so their weights map onto ours
            self.add_module(f"layer{i + 1}", stage)
            self.stages.append(stage)
            c_in = c_out
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.in_chans, self.img_size)
        x = F.relu(self.bn1(self.conv1(x)))  # (B, C0, 32, 32)
        for stage in self.stages:
            x = stage(x)  # (B, C, H/2, W/2) after each stage but the first
        return self.fc(x.mean(dim=(2, 3)))  # (B, num_classes)

    def no_weight_decay(self) -> set[str]:
        return set()


class ResNet18(ResNet):
    """The original project's CNN baseline: 11.2M parameters."""

    def __init__(self, **kwargs):
        super().__init__((64, 128, 256, 512), (2, 2, 2, 2), **kwargs)


class ResNet8(ResNet):
    """A CNN sized for a laptop: one block per stage, a quarter of ResNet-18's widths
    in its first three stages, so its compute per image is close to vit_laptop's
    (``python -m vit_core.registry`` prints both)."""

    def __init__(self, **kwargs):
        super().__init__((32, 64, 128), (1, 1, 1), **kwargs)
