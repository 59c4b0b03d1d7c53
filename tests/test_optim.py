"""Muon for the blocks' matrices, AdamW for the rest; one state dict for resume; the
flip-averaged accuracy recorded beside the plain one."""

import json

import pytest
import torch
from conftest import argv
from safetensors.torch import load_file

from vit_core.cli import parse_args
from vit_core.data import DeviceLoader
from vit_core.evaluate import evaluate
from vit_core.optim import Combined, Muon, build_optimizer, orthogonalize
from vit_core.registry import create_model
from vit_core.train import train

FAST = "--debug --quiet --threads 1 --autoaugment none --model vit_laptop_cls"


def groups_by_name(model, optimizer):
    names = {id(p): n for n, p in model.named_parameters()}
    return [{names[id(p)] for p in g["params"]} for g in optimizer.param_groups]


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    model = create_model("vit_laptop_cls", depth=2)
    cfg = parse_args(["--optimizer", "muon", "--lr", "0.002"])
    opt = build_optimizer(model, cfg, torch.device("cpu"))
    muon, decay, no_decay = groups_by_name(model, opt)
    assert isinstance(opt.optimizers[0], Muon)
    assert "blocks.0.attn.qkv.weight" in muon and "blocks.1.mlp.fc2.weight" in muon
    assert all(n.startswith("blocks.") and n.endswith("weight") for n in muon)
    assert decay == {"patch_embed.proj.weight", "head.weight"}
    assert {"cls_token", "pos_embed", "blocks.0.norm1.weight"} <= no_decay
    everything = {n for n, p in model.named_parameters() if p.requires_grad}
    assert muon | decay | no_decay == everything and not muon & (decay | no_decay)
    assert all(g["lr"] == 0.002 for g in opt.param_groups)


def test_orthogonalize_flattens_the_singular_values():
    g = torch.randn(96, 32) @ torch.diag(torch.logspace(-1, 1, 32))  # badly scaled
    s = torch.linalg.svdvals(orthogonalize(g))
    # the quintic overshoots on purpose: values land near 1, not on it
    assert s.min() > 0.5 and s.max() < 1.5 and orthogonalize(g).shape == (96, 32)
    assert torch.linalg.svdvals(g).max() / torch.linalg.svdvals(g).min() > 50


def test_a_stack_of_matrices_orthogonalizes_as_each_one_alone():
    tall, wide = torch.randn(3, 96, 32), torch.randn(2, 32, 64)
    for stack in (tall, wide):
        together = orthogonalize(stack)
        for g, x in zip(stack, together):
            torch.testing.assert_close(x, orthogonalize(g), rtol=1e-4, atol=1e-5)


def test_muon_steps_each_matrix_as_the_formula_says():
    """Stacking same-shape matrices is a speed-up only: each weight still gets its own
    orthogonalized Nesterov momentum, scaled by 0.2 * sqrt(max(A, B))."""
    torch.manual_seed(0)
    weights = [torch.nn.Parameter(torch.randn(*s)) for s in [(8, 4), (8, 4), (4, 6)]]
    grads = [torch.randn_like(w) for w in weights]
    before = [w.detach().clone() for w in weights]
    opt = Muon(weights, lr=0.1, weight_decay=0.5, momentum=0.9)
    for w, g in zip(weights, grads):
        w.grad = g.clone()
    opt.step()
    for w, w0, g in zip(weights, before, grads):
        nesterov = g + 0.9 * g  # the first momentum buffer is the gradient itself
        want = w0 * (1 - 0.1 * 0.5) - 0.1 * 0.2 * max(w.shape) ** 0.5 * orthogonalize(
            nesterov
        )
        torch.testing.assert_close(w.detach(), want, rtol=1e-4, atol=1e-5)


def test_muon_refuses_a_model_without_blocks():
    with pytest.raises(ValueError, match="no transformer blocks"):
        build_optimizer(
            create_model("resnet8"),
            parse_args(["--optimizer", "muon", "--model", "resnet8"]),
            torch.device("cpu"),
        )


def test_combined_state_round_trips_and_names_a_mismatch():
    a, b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 1)
    opt = Combined(
        torch.optim.SGD(a.parameters(), momentum=0.9), torch.optim.AdamW(b.parameters())
    )
    (a(torch.ones(2, 4)).sum() + b(torch.ones(2, 4)).sum()).backward()
    opt.step()
    state = opt.state_dict()
    again = Combined(
        torch.optim.SGD(a.parameters(), momentum=0.9), torch.optim.AdamW(b.parameters())
    )
    again.load_state_dict(state)
    assert again.state_dict()["optimizers"][1]["state"][0]["step"] == 1
    with pytest.raises(ValueError, match="holds 2 optimizer"):
        Combined(torch.optim.SGD(a.parameters())).load_state_dict(state)


def test_a_muon_run_resumes_to_the_same_weights(tiny_cifar, tmp_path):
    recipe = argv(FAST, "--optimizer muon --epochs 2 --data-dir", tiny_cifar)
    train(parse_args([*recipe, "--out", str(tmp_path / "straight")]))
    train(parse_args([*recipe, "--out", str(tmp_path / "split"), "--stop-after", "1"]))
    train(parse_args(["--resume", str(tmp_path / "split"), "--quiet"]))
    a = load_file(tmp_path / "straight" / "checkpoint.safetensors")
    b = load_file(tmp_path / "split" / "checkpoint.safetensors")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_flip_averaging_sums_the_logits_of_the_mirror_image():
    class LeftHalf(torch.nn.Module):
        """Class 0 when the left half is brighter: a mirror image flips the answer."""

        def forward(self, x):
            left, right = x[..., :16].mean(dim=(1, 2, 3)), x[..., 16:].mean((1, 2, 3))
            return torch.stack([left - right, 0.5 * (right - left)], dim=1)

    x = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    x[..., :16] = 200  # left bright: class 0 wins, by more than the mirror's class 1
    loader = DeviceLoader(x, torch.zeros(4, dtype=torch.long), 2, "cpu", train=False)
    plain = evaluate(LeftHalf(), loader, torch.device("cpu"), num_classes=2)
    flip = evaluate(LeftHalf(), loader, torch.device("cpu"), num_classes=2, flip=True)
    assert plain["accuracy"] == 1.0 and flip["accuracy"] == 1.0
    mirrored = DeviceLoader(
        x.flip(3), torch.zeros(4, dtype=torch.long), 2, "cpu", train=False
    )
    # the mirror image alone says class 1; with its own mirror summed in, class 0
    assert (
        evaluate(LeftHalf(), mirrored, torch.device("cpu"), num_classes=2)["accuracy"]
        == 0.0
    )
    assert (
        evaluate(LeftHalf(), mirrored, torch.device("cpu"), num_classes=2, flip=True)[
            "accuracy"
        ]
        == 1.0
    )


def test_the_end_of_a_run_records_the_flip_averaged_accuracy(tiny_cifar, tmp_path):
    log = tmp_path / "log.jsonl"
    summary = train(
        parse_args(
            argv(
                FAST,
                "--epochs 1 --val-split 64 --data-dir",
                tiny_cifar,
                "--out",
                tmp_path / "run",
                "--log-to",
                log,
            )
        )
    )
    for split in ("val", "test"):
        assert 0.0 <= summary[f"{split}_accuracy_flip"] <= 1.0
    record = json.loads(log.read_text())
    assert record["test_accuracy_flip"] == summary["test_accuracy_flip"]
