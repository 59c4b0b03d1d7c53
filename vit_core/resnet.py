"""ResNet-18 for CIFAR (3x3 stem, no max-pool): the convolutional baseline the seed
compares against."""

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


class ResNet18(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 3, img_size: int = 32):
        super().__init__()
        self.in_chans, self.img_size = in_chans, img_size
        self.conv1 = nn.Conv2d(in_chans, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, c_in = [], 64
        for c_out, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers.append(
                nn.Sequential(
                    BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)
                )
            )
            c_in = c_out
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.in_chans, self.img_size)
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 64, 32, 32)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, 4, 4)
        return self.fc(x.mean(dim=(2, 3)))  # (B, num_classes)

    def no_weight_decay(self) -> set[str]:
        return set()
