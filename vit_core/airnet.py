"""AirNet: the convnet of Keller Jordan's airbench94 (Jordan 2024, "94% on CIFAR-10 in
3.29 seconds on a single GPU"). It is the course's distillation teacher: under a
quarter of ResNet-18's compute per image (``python -m vit_core.registry`` prints both),
so it trains on a laptop CPU in half an hour (the airnet_teacher card) where ResNet-18
would need many hours.

Kept from airbench94: a 2x2 stem conv, three groups of (conv, max-pool, BatchNorm,
GELU, conv, BatchNorm, GELU) at widths 64, 256, 256, a final 3x3 max-pool, a bias-free
head scaled by 1/9, identity-initialized convolutions and BatchNorm's fast momentum.
Left out: the data-dependent whitening init of the stem (learned here like every other
layer) and airbench's training tricks (lookahead, a larger rate for BatchNorm biases,
test-time translations): the recipe is this trainer's, the ``teacher`` preset, and
it reaches less than airbench's 94% (its card).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .model import check_image


class Conv(nn.Conv2d):
    """A 3x3 'same' conv whose first in-channels start as the identity (Dirac), so
    each group begins close to passing its input through."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(c_in, c_out, 3, padding=1, bias=False)
        nn.init.dirac_(self.weight.data[: min(c_in, c_out)])


def batch_norm(channels: int) -> nn.BatchNorm2d:
    # airbench's running statistics follow the batches fast: 0.6 of the old kept
    return nn.BatchNorm2d(channels, eps=1e-12, momentum=0.4)


class ConvGroup(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = Conv(c_in, c_out)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = batch_norm(c_out)
        self.conv2 = Conv(c_out, c_out)
        self.norm2 = batch_norm(c_out)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.norm1(self.pool(self.conv1(x))))  # (B, C, H/2, W/2)
        return self.act(self.norm2(self.conv2(x)))


class AirNet(nn.Module):
    def __init__(
        self,
        widths: tuple[int, int, int] = (64, 256, 256),
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int = 32,
    ):
        super().__init__()
        self.in_chans, self.img_size = in_chans, img_size
        stem_width = 2 * in_chans * 2 * 2  # airbench: twice the 2x2 patch's values
        self.stem = nn.Conv2d(in_chans, stem_width, 2)
        self.groups = nn.Sequential(
            ConvGroup(stem_width, widths[0]),
            ConvGroup(widths[0], widths[1]),
            ConvGroup(widths[1], widths[2]),
        )
        self.pool = nn.MaxPool2d(3)
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = 1 / 9  # airbench's logit scale: its learning rate assumes it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image(x, self.in_chans, self.img_size)
        # oneDNN's CPU convolutions are faster on channels-last images
        x = x.contiguous(memory_format=torch.channels_last)
        x = nn.functional.gelu(self.stem(x))  # (B, 24, 31, 31)
        x = self.groups(x)  # (B, 256, 3, 3)
        x = self.pool(x).flatten(1)  # (B, 256)
        return self.head(x) * self.scale  # (B, num_classes)

    def no_weight_decay(self) -> set[str]:
        return set()
