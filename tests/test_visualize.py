"""The plotting CLI writes every PNG for a small random model."""

import numpy as np
import torch
from matplotlib.figure import Figure
from test_data import write_fake_cifar

from vit_core.checkpoint import save_checkpoint
from vit_core.data import CLASSES, gallery_indices, load_cifar10
from vit_core.registry import create_model
from vit_core.visualize import heads_figure, main


def test_cli_writes_every_plot(tmp_path):
    torch.manual_seed(0)
    model = create_model("vit_laptop", depth=2)
    save_checkpoint(
        model,
        tmp_path / "tiny.safetensors",
        {"model": "vit_laptop", "config": model.cfg.to_dict()},
    )
    write_fake_cifar(tmp_path / "data")
    main(
        [
            "--checkpoint",
            str(tmp_path / "tiny.safetensors"),
            "--out",
            str(tmp_path / "plots"),
            "--data-dir",
            str(tmp_path / "data"),
            "--num-images",
            "2",
        ]
    )
    _, labels = load_cifar10(tmp_path / "data", train=False)
    stems = [
        f"{k + 1:02d}_{CLASSES[labels[i]]}"
        for k, i in enumerate(gallery_indices(labels, 2))
    ]
    expected = {"summary.png", "distance.png"} | {
        f"{kind}_{s}.png"
        for s in stems
        for kind in ("heads", "rollout", "layers", "class")
    }
    written = {p.name for p in (tmp_path / "plots").iterdir()}
    assert written == expected
    for name in written:
        data = (tmp_path / "plots" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_figures_need_no_display():
    image = torch.zeros(3, 32, 32, dtype=torch.uint8)
    fig = heads_figure(
        image, np.random.default_rng(0).random((4, 8, 8)), layer=3, pool="avg"
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 6
