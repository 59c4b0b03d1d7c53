"""Data: reading the batches, clear errors for bad files, batch augmentation, mixing,
schedules."""

import pytest
import torch
from conftest import write_fake_cifar

from vit_core.data import (
    DeviceLoader,
    gallery_indices,
    load_cifar10,
    random_crop,
    random_flip,
)
from vit_core.errors import DataError
from vit_core.mix import mix_batch
from vit_core.schedule import lr_at, parse_duration


def test_reads_the_official_layout(tmp_path):
    write_fake_cifar(tmp_path)
    x, y = load_cifar10(tmp_path, train=True)
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.uint8
    assert y.shape == (100,) and y.dtype == torch.int64


def test_missing_folder_says_how_to_fix_it(tmp_path):
    with pytest.raises(DataError, match="no CIFAR-10 at .*--data-dir.*--download"):
        load_cifar10(tmp_path / "nowhere")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_bad_batch_file_is_named(tmp_path, damage):
    folder = write_fake_cifar(tmp_path)
    bad = folder / "data_batch_3"
    if damage == "truncate":
        bad.write_bytes(bad.read_bytes()[:1000])
    elif damage == "garbage":
        bad.write_bytes(b"not a pickle at all")
    else:
        bad.unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(tmp_path)


def test_random_crop_cuts_a_window_of_the_padded_image():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    assert torch.equal(random_crop(x, 0), x)
    g = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(2):  # each output is some 8x8 window of its own padded image
        windows = padded[b].unfold(1, 8, 1).unfold(2, 8, 1)  # (C, 5, 5, 8, 8)
        assert any(
            torch.equal(windows[:, i, j], out[b]) for i in range(5) for j in range(5)
        )


def test_random_flip_flips_about_half_the_images():
    x = torch.randn(1000, 3, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, xi.flip(2)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert torch.all(flipped | kept) and 400 < int(flipped.sum()) < 600


def test_loader_shards_without_overlap_and_covers_each_epoch():
    x = torch.zeros(100, 3, 32, 32, dtype=torch.uint8)
    y = torch.arange(100)
    seen = []
    for rank in range(2):
        loader = DeviceLoader(
            x,
            y,
            10,
            "cpu",
            train=True,
            crop_padding=0,
            flip=False,
            rank=rank,
            world_size=2,
        )
        seen.append(torch.cat([b for _, b in loader]))
    assert len(set(seen[0].tolist()) & set(seen[1].tolist())) == 0
    assert sorted(seen[0].tolist() + seen[1].tolist()) == list(range(100))


def test_gallery_takes_classes_in_turn():
    labels = torch.tensor([3, 3, 1, 0, 1, 3])
    assert gallery_indices(labels, 5) == [3, 2, 0, 4, 1]


@pytest.mark.parametrize("mixup, cutmix", [(0.8, 0.0), (0.0, 1.0)])
def test_mixing_keeps_targets_a_distribution_matching_the_pixels(mixup, cutmix):
    g = torch.Generator().manual_seed(1)
    x = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])
    y = torch.tensor([0, 1])
    xm, t = mix_batch(x, y, 10, mixup, cutmix, label_smoothing=0.0, generator=g)
    torch.testing.assert_close(t.sum(1), torch.ones(2))
    # Image 0 is zeros mixed with ones: its mean pixel is the weight of class 1 in its
    # target.
    torch.testing.assert_close(xm[0].mean(), t[0, 1])


def test_label_smoothing_without_mixing():
    _, t = mix_batch(
        torch.zeros(2, 3, 4, 4), torch.tensor([3, 5]), 10, label_smoothing=0.1
    )
    assert torch.allclose(t[0, 3], torch.tensor(0.91)) and torch.allclose(
        t[0, 0], torch.tensor(0.01)
    )


def test_warmup_then_cosine():
    lrs = [lr_at(s, 100, 10, 1.0, 0.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] < 0.001
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lr_at(50, 100, 10, 0.3, 0.0, schedule="constant") == 0.3


@pytest.mark.parametrize(
    "text, seconds", [("15m", 900), ("20s", 20), ("1.5h", 5400), ("42", 42)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5m", "0"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
