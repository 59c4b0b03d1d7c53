"""The attention explorer driven from Python, its data format, and the offline
export."""

import numpy as np
import pytest
import torch
import traitlets
from PIL import Image
from test_data import write_fake_cifar

from vit_core.attention import attention_maps, class_rollout, pooled, rollout
from vit_core.checkpoint import save_checkpoint
from vit_core.errors import VitCoreError
from vit_core.explorer import MODES, AttentionExplorer, encode_image, select_map, unpack
from vit_core.export_explorer import export, main
from vit_core.registry import create_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("vit_laptop").eval()


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8, generator=g)


@pytest.fixture()
def explorer(model, images):
    return AttentionExplorer(model, images, labels=[1, 2, 3])


def test_layer_head_patch_mode_and_image_each_change_the_map(explorer):
    shown = [explorer.current_map()]
    other_class = (int(np.argmax(explorer.record["probs"])) + 1) % 10
    for name, value in [
        ("layer", 0),
        ("head", 2),
        ("query", 27),
        ("mode", "rollout"),
        ("layer", 2),
        ("mode", "class"),
        ("target", other_class),
        ("image_index", 1),
    ]:
        setattr(explorer, name, value)
        shown.append(explorer.current_map())
        assert not np.array_equal(shown[-2], shown[-1]), (
            f"setting {name} to {value} left the map as it was"
        )
    assert shown[-1].shape == (8, 8) and shown[-1].min() == 0 and shown[-1].max() == 1


def direct_map(model, image, mode, layer, head, query, target) -> np.ndarray:
    """The (G, G) map for these choices, computed from the model, min-max scaled."""
    x, P = image.unsqueeze(0), model.num_prefix_tokens
    if mode == "class":
        row = pooled(class_rollout(model, x, target, cumulative=True)[0, layer], P)
    else:
        _, attn = attention_maps(model, x)
        if mode == "raw":
            mat = attn[0, layer].mean(0) if head < 0 else attn[0, layer, head]
        else:
            mat = rollout(attn, num_prefix=P, cumulative=True)[0, layer]
        row = pooled(mat, P) if query < 0 else mat[P + query, P:]
    row = row.numpy().copy()
    if mode == "rollout" and query >= 0:  # own patch clipped to the brightest other
        row[query] = min(row[query], np.delete(row, query).max())
    G = model.cfg.grid_size
    return ((row - row.min()) / (row.max() - row.min())).reshape(G, G)


@pytest.mark.parametrize(
    "mode, layer, head, query, target",
    [
        ("raw", 1, 3, 10, -1),
        ("raw", 3, -1, -1, -1),
        ("rollout", 2, -1, -1, -1),
        ("rollout", 3, -1, 27, -1),
        ("class", 1, -1, -1, 4),
        ("class", 3, -1, -1, 7),
    ],
)
def test_the_shown_map_is_the_one_computed_from_the_model(
    explorer, model, images, mode, layer, head, query, target
):
    explorer.mode, explorer.layer, explorer.head = mode, layer, head
    explorer.query, explorer.target = query, target
    want = direct_map(model, images[0], mode, layer, head, query, target)
    np.testing.assert_allclose(explorer.current_map(), want, atol=1 / 255)


def test_predicted_class_is_the_default_target(explorer):
    explorer.mode = "class"
    shown = explorer.current_map()
    explorer.target = int(np.argmax(explorer.record["probs"]))
    np.testing.assert_array_equal(explorer.current_map(), shown)


def test_out_of_range_choices_are_refused(explorer):
    for name, value in [
        ("layer", 4),
        ("head", 4),
        ("query", 64),
        ("image_index", 3),
        ("target", 10),
        ("layer", -1),
    ]:
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(explorer, name, value)
    with pytest.raises(traitlets.TraitError):
        explorer.mode = "gradcam"


def test_a_model_without_attention_is_refused_by_name(images):
    with pytest.raises(VitCoreError, match="VisionTransformer, not a ResNet18"):
        AttentionExplorer(create_model("resnet18"), images)


def test_user_images_join_the_gallery(explorer):
    pil = Image.fromarray(np.full((64, 48, 3), 200, dtype=np.uint8))  # resized to 32x32
    i = explorer.add_image(pil)
    assert explorer.image_index == i == 3 and explorer.record["label"] is None
    # float HWC in [0, 1]
    j = explorer.add_image(np.random.default_rng(0).random((32, 32, 3)), label=5)
    assert explorer.image_index == j == 4 and len(explorer.gallery) == 5
    assert len(explorer.top5()) == 5 and explorer.top5()[0][1] >= explorer.top5()[1][1]


def test_record_layout(model, images):
    rec = encode_image(model, images[0], label=4)
    L, H, N, C = 4, 4, 64, 10
    assert unpack(rec["pixels"]).size == 32 * 32 * 3
    assert unpack(rec["attn"]).size == L * (H + 1) * (1 + N) * N
    assert unpack(rec["rollout"]).size == L * (1 + N) * N
    assert unpack(rec["class"]).size == C * L * N
    assert sum(rec["probs"]) == pytest.approx(1, abs=1e-3)
    meta = {"layers": L, "heads": H, "grid": 8, "classes": list(range(C))}
    m = select_map(rec, meta, "raw", layer=0, head=-1, query=-1, target=-1)
    assert m.shape == (8, 8) and m.max() == 1.0


def test_choices_are_lookups_that_never_run_the_model(explorer, monkeypatch):
    explorer.image_index = 1  # computed now; coming back must not compute it again
    explorer.image_index = 0

    def refuse(*args, **kwargs):
        raise AssertionError("a choice ran the model instead of looking its map up")

    monkeypatch.setattr(explorer.model, "forward_attention", refuse)
    for k in range(20):
        explorer.image_index = k % 2
        explorer.mode, explorer.target = MODES[k % 3], k % 11 - 1
        explorer.layer, explorer.head, explorer.query = k % 4, k % 5 - 1, k
        assert explorer.current_map().shape == (8, 8)


def test_export_fits_the_page_budget(model, images, tmp_path):
    path = export(tmp_path, model, images[:2], torch.tensor([0, 1]))
    text = path.read_text()
    assert text.startswith("window.VIT_EXPLORER_DATA = ")
    assert {p.name for p in tmp_path.iterdir()} == {
        "explorer_data.js",
        "explorer.js",
        "explorer.css",
        "index.html",
    }
    assert len(text) / 2 * 24 < 5e6  # 24 images stay under 5 MB


def test_export_cli(model, tmp_path):
    write_fake_cifar(tmp_path / "data")
    save_checkpoint(
        model,
        tmp_path / "ckpt.safetensors",
        {"model": "vit_laptop", "config": model.cfg.to_dict()},
    )
    main(
        [
            "--out",
            str(tmp_path / "out"),
            "--checkpoint",
            str(tmp_path / "ckpt.safetensors"),
            "--data-dir",
            str(tmp_path / "data"),
            "--num-images",
            "3",
        ]
    )
    assert (tmp_path / "out" / "explorer_data.js").stat().st_size > 1000
