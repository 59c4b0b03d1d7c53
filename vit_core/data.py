"""CIFAR-10: read the official python batches, keep them as uint8 on the training
device, augment in batches.

The whole training set is 150 MB as uint8, so it fits on any GPU. Augmenting a whole
batch at once on the device replaces the original project's per-image PIL pipeline,
which is what made its 100 epochs take hours.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .errors import DataError

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
ENV_VAR = "VIT_CORE_DATA"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $VIT_CORE_DATA, else
    ~/.cache/vit_core/cifar10."""
    if data_dir is None:
        data_dir = (
            os.environ.get(ENV_VAR) or Path.home() / ".cache" / "vit_core" / "cifar10"
        )
    path = Path(data_dir).expanduser()
    return path.parent if path.name == BATCH_DIR else path


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"CIFAR-10 batch file {path} is missing")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    # truncated pickles raise EOFError/UnpicklingError, wrong content KeyError/TypeError
    except Exception as e:
        raise DataError(
            f"CIFAR-10 batch file {path} is truncated or corrupt ({type(e).__name__}: "
            f"{e})"
        ) from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(
            f"CIFAR-10 batch file {path} has the wrong shape: data {data.shape}, "
            f"{len(labels)} labels"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"CIFAR-10 batch file {path} has labels outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar10(
    data_dir=None, train: bool = True, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, 3, 32, 32) and labels as int64 (N,), read from the official
    python layout.

    Where the folder has no batches and ``download`` is set, torchvision downloads the
    official archive.
    """
    root = resolve_data_dir(data_dir)
    folder = root / BATCH_DIR
    if not folder.is_dir():
        if not download:
            raise DataError(
                f"no CIFAR-10 at {folder}: pass --data-dir (or set ${ENV_VAR}) to a "
                "folder holding "
                f"{BATCH_DIR}/, or allow downloading with --download"
            )
        import torchvision

        torchvision.datasets.CIFAR10(str(root), train=train, download=True)
    parts = [
        _read_batch(folder / name) for name in (TRAIN_FILES if train else TEST_FILES)
    ]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(images), torch.from_numpy(labels)


def describe_data(data_dir=None) -> str:
    """'CIFAR-10 (JPEG copy)' for the offline copy (its file names are paths), else
    'CIFAR-10'.

    Results record this label, and tests compare against results recorded on the same
    data.
    """
    try:
        with open(resolve_data_dir(data_dir) / BATCH_DIR / "test_batch", "rb") as f:
            names = pickle.load(f, encoding="bytes").get(b"filenames", [])
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return "CIFAR-10"
    return "CIFAR-10 (JPEG copy)" if names and b"/" in names[0] else "CIFAR-10"


def split_validation(images: torch.Tensor, labels: torch.Tensor, n: int):
    """Hold out ``n`` training images for model selection: ((train_x, train_y), (val_x,
    val_y)).

    The split is the same for every run and seed (a fixed permutation), so recipes
    compare on the same held-out images.
    """
    if not 0 <= n < len(images):
        raise ValueError(
            f"--val-split must be between 0 and {len(images) - 1}, got {n}"
        )
    order = torch.randperm(
        len(images), generator=torch.Generator().manual_seed(20_261_128)
    )
    keep, held = (
        order[: len(images) - n].sort().values,
        order[len(images) - n :].sort().values,
    )
    return (images[keep], labels[keep]), (images[held], labels[held])


def normalize(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float, standardized per channel with the CIFAR-10
    statistics."""
    mean = torch.tensor(MEAN, device=x_uint8.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=x_uint8.device).view(1, 3, 1, 1)
    return (x_uint8.float() / 255.0 - mean) / std


def random_crop(
    x: torch.Tensor, padding: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero-pad by ``padding`` and cut a random HxW window per image, as one gather for
    the whole batch."""
    B, C, H, W = x.shape
    xp = torch.nn.functional.pad(x, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (B,), device=x.device, generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (B,), device=x.device, generator=generator)
    # (B, 1, H, 1)
    rows = (dy[:, None] + torch.arange(H, device=x.device))[:, None, :, None]
    # (B, 1, 1, W)
    cols = (dx[:, None] + torch.arange(W, device=x.device))[:, None, None, :]
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    return xp[b, c, rows, cols]  # (B, C, H, W)


def random_flip(
    x: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def policy_augment(x_uint8: torch.Tensor, policy: str, group: int = 8) -> torch.Tensor:
    """RandAugment or AutoAugment (CIFAR-10 policy) with torchvision's tensor ops, on
    the device.

    torchvision draws one op per call, so we call it on groups of ``group`` images: each
    group gets its own op and magnitude. Smaller groups mean more diversity and more
    kernel launches.
    """
    from torchvision.transforms import v2

    op = (
        v2.RandAugment(num_ops=2, magnitude=9)
        if policy == "randaugment"
        else v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10)
    )
    return torch.cat([op(chunk) for chunk in x_uint8.split(group)])


class DeviceLoader:
    """Batches of one split, held as uint8 on ``device`` and augmented there.

    With ``world_size > 1`` each rank takes its own shard of every epoch's permutation,
    as DistributedSampler would, and all ranks see the same number of steps.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        device,
        train: bool,
        seed: int = 0,
        crop_padding: int = 4,
        flip: bool = True,
        policy: str = "none",
        rank: int = 0,
        world_size: int = 1,
    ):
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.batch_size, self.device, self.train = (
            batch_size,
            torch.device(device),
            train,
        )
        self.crop_padding, self.flip, self.policy = crop_padding, flip, policy
        self.rank, self.world_size = rank, world_size
        self.seed, self.epoch = seed, 0
        # the indices into ``images`` of the training batch last yielded: a teacher
        # cache (vit_core.distill) looks its logits up by them
        self.batch_index: torch.Tensor | None = None
        per_rank = len(self.images) // world_size if train else len(self.images)
        if train and per_rank < batch_size:
            raise DataError(
                f"batch size {batch_size} is larger than the {per_rank} training "
                "images per process"
            )
        self.steps = per_rank // batch_size if train else -(-per_rank // batch_size)

    def __len__(self) -> int:
        return self.steps

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        n = len(self.images)
        if not self.train:
            for i in range(0, n, self.batch_size):
                yield (
                    normalize(self.images[i : i + self.batch_size]),
                    self.labels[i : i + self.batch_size],
                )
            return
        # Seeded by epoch, so a resumed run and every DDP rank draw the same
        # permutation.
        g = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(n, generator=g)[self.rank :: self.world_size].to(
            self.device
        )
        aug_g = torch.Generator(device=self.device).manual_seed(
            self.seed * 100_003 + self.epoch * 31 + self.rank
        )
        for i in range(self.steps):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            self.batch_index = idx
            x = self.images[idx]  # (B, 3, 32, 32) uint8
            if self.policy != "none":
                x = policy_augment(x, self.policy)
            if self.crop_padding:
                x = random_crop(x, self.crop_padding, aug_g)
            if self.flip:
                x = random_flip(x, aug_g)
            yield normalize(x), self.labels[idx]


def gallery_indices(labels: torch.Tensor, n: int) -> list[int]:
    """``n`` image indices, classes taken in turn: the first image of each class, then
    the second of each, ..."""
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(labels.tolist()):
        by_class.setdefault(y, []).append(i)
    rounds = max(map(len, by_class.values()))
    order = [
        idx[k]
        for k in range(rounds)
        for _, idx in sorted(by_class.items())
        if k < len(idx)
    ]
    return order[:n]
