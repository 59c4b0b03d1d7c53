"""DeiT distillation: the distillation token and its head, the hard and soft losses on
numbers worked by hand, the teacher on the student's own batch, tiny runs end to end
with a resume, and the errors of a bad teacher."""

import math

import pytest
import torch
from conftest import argv
from test_train import fast_run, metrics, read

from vit_core.attention import pooled
from vit_core.checkpoint import load_checkpoint, save_checkpoint
from vit_core.config import TrainConfig
from vit_core.data import DeviceLoader, normalize
from vit_core.distill import (
    Teacher,
    hard_distillation_loss,
    load_teacher,
    soft_distillation_loss,
)
from vit_core.mix import mix_batch, soft_cross_entropy
from vit_core.model import count_params, timm_twin
from vit_core.registry import create_model
from vit_core.train import batch_loss, main

TINY = dict(depth=1, embed_dim=32, num_heads=2)
TINY_FLAGS = "--model vit_laptop_cls --depth 1 --embed-dim 32 --num-heads 2"


def tiny_vit(**options):
    torch.manual_seed(0)
    return create_model("vit_laptop_cls", **TINY, **options)


def test_the_token_adds_a_prefix_token_and_a_head_averaged_in_eval():
    plain, model = tiny_vit(), tiny_vit(distilled=True)
    D, classes, patches = 32, 10, 64
    assert (plain.num_prefix_tokens, model.num_prefix_tokens) == (1, 2)
    assert model.pos_embed.shape == (1, 2 + patches, D)
    # the token, its position and its head: nothing else
    extra = D + D + (D * classes + classes)
    assert count_params(model) == count_params(plain) + extra
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        cls_logits, dist_logits = model.train()(x, distill=True)
        assert cls_logits.shape == dist_logits.shape == (3, classes)
        assert not torch.allclose(cls_logits, dist_logits)  # two heads, two tokens
        torch.testing.assert_close(model.eval()(x), (cls_logits + dist_logits) / 2)


def test_the_distilled_layout_trains_like_timms_in_distilled_training():
    pytest.importorskip("timm")
    model = tiny_vit(distilled=True)
    theirs = timm_twin(model.cfg)
    theirs.load_state_dict(model.state_dict(), strict=True)
    theirs.set_distilled_training(True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours, timms = model.train()(x, distill=True), theirs.train()(x)
    for a, b in zip(ours, timms, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_attention_maps_and_patch_dropout_keep_both_prefix_tokens():
    model = tiny_vit(distilled=True, patch_drop=0.25)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits, attn = model.eval().forward_attention(x)
        torch.testing.assert_close(logits, model(x))
    assert attn.shape == (2, 1, 2, 66, 66)  # (B, L, H, CLS + dist + 64, same)
    assert pooled(attn, model.num_prefix_tokens).shape == (2, 1, 2, 64)
    tokens = model.train().embed(x)
    assert tokens.shape == (2, 2 + 48, 32)  # a quarter of the patches dropped
    prefix = model.pos_embed[:, :2] + torch.cat([model.cls_token, model.dist_token], 1)
    torch.testing.assert_close(tokens[:, :2], prefix.expand(2, -1, -1))


def test_fixed_positions_leave_both_prefix_tokens_at_zero():
    plain = tiny_vit(pos_embed="sincos").pos_embed
    distilled = tiny_vit(pos_embed="sincos", distilled=True).pos_embed
    assert torch.equal(distilled[:, :2], torch.zeros(1, 2, 32))
    assert torch.equal(distilled[:, 2:], plain[:, 1:])


def test_the_token_needs_a_cls_model():
    with pytest.raises(ValueError, match="pool='cls'.*pool='avg'"):
        create_model("vit_laptop", distilled=True)


def test_hard_loss_learns_the_teachers_top_class_half_and_half():
    label_loss = torch.tensor(2.0)
    # row 1: the teacher picks class 1, the student gives it 3/5; row 2: class 2, 1/3
    dist_logits = torch.tensor([[0.0, math.log(3), 0.0], [0.0, 0.0, 0.0]])
    teacher = torch.tensor([[1.0, 5.0, 0.0], [0.0, 0.0, 9.0]])
    expected = 0.5 * 2.0 + 0.5 * (math.log(5 / 3) + math.log(3)) / 2
    loss = hard_distillation_loss(label_loss, dist_logits, teacher)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # the top class is all it takes from the teacher, not how sure it is
    sure = hard_distillation_loss(label_loss, dist_logits, teacher * 10)
    assert sure.item() == pytest.approx(expected, rel=1e-6)


def test_soft_loss_is_the_kl_at_the_temperature_scaled_by_its_square():
    label_loss = torch.tensor(1.0)
    # at tau 2 the teacher's softmax is (3/4, 1/4); the student's is (1/2, 1/2)
    teacher = torch.tensor([[2 * math.log(3), 0.0]])
    student = torch.zeros(1, 2)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    loss = soft_distillation_loss(label_loss, student, teacher, tau=2.0)
    assert loss.item() == pytest.approx(0.5 * 1.0 + 0.5 * 2.0**2 * kl, rel=1e-6)
    agreeing = soft_distillation_loss(label_loss, teacher, teacher, tau=2.0)
    assert agreeing.item() == pytest.approx(0.5, abs=1e-6)
    assert TrainConfig().distill_tau == 3.0  # DeiT's


class Recorder(torch.nn.Module):
    """A stand-in teacher: fixed logits of its input; keeps what it was given."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3 * 32 * 32, 10)
        self.seen, self.grad_enabled = [], []

    def forward(self, x):
        self.seen.append(x)
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.proj(x.flatten(1))


@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_the_teacher_sees_the_students_mixed_batch_without_gradients(mode):
    student, recorder = tiny_vit(distilled=True).train(), Recorder().eval()
    teacher = Teacher(recorder.requires_grad_(False), mode, 3.0, True, {})
    forward, seen = student.forward, []
    student.forward = lambda x, **kw: seen.append(x) or forward(x, **kw)
    cfg = TrainConfig(mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.1)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    loss = batch_loss(student, x, y, cfg, torch.Generator().manual_seed(0), teacher)
    assert recorder.seen[0] is seen[0] and not torch.equal(seen[0], x)  # mixed
    assert recorder.grad_enabled == [False] and teacher.seconds > 0
    mixed, target = mix_batch(x, y, 10, 0.8, 0.0, 0.1, torch.Generator().manual_seed(0))
    torch.testing.assert_close(mixed, seen[0])
    with torch.no_grad():
        cls_logits, dist_logits = forward(mixed, distill=True)
        label = soft_cross_entropy(cls_logits, target)
        expected = teacher.loss(mixed, label, dist_logits)
    torch.testing.assert_close(loss, expected)
    loss.backward()  # the student learns; the teacher's weights have no gradient
    assert (
        student.head_dist.weight.grad is not None and recorder.proj.weight.grad is None
    )


class StopWatch:
    """The training clock's interface, counting its starts."""

    def __init__(self):
        self.starts, self.total = 0, 0.0

    def start(self):
        self.starts += 1

    def stop(self):
        self.total += 1.5
        return self.total


def test_a_teacher_cache_looks_up_each_images_clean_logits_after_one_pass():
    images = torch.randint(0, 256, (1100, 3, 32, 32), dtype=torch.uint8)
    loader = DeviceLoader(images, torch.zeros(1100, dtype=torch.long), 64, "cpu", True)
    recorder, clock = Recorder().eval(), StopWatch()
    teacher = Teacher(recorder.requires_grad_(False), "hard", 3.0, True, {})
    assert teacher.cache_logits(loader, clock, batch=500) == 1.5  # the clock's total
    assert clock.starts == 1 and len(recorder.seen) == 3  # 1,100 images in 500s
    assert teacher.record["cache"]["images"] == 1100 and teacher.seconds > 0
    seconds = teacher.seconds
    for x, _ in loader:  # cropped and flipped: the cache answers for the clean image
        clean = normalize(images[loader.batch_index])
        with torch.no_grad():
            expected = recorder.proj(clean.flatten(1))
        torch.testing.assert_close(teacher.logits(x), expected)
    assert len(recorder.seen) == 3 and teacher.seconds == seconds  # no more passes


def save_teacher(path, **options):
    model = tiny_vit(**options)
    card = {
        "model": "vit_laptop_cls",
        "config": model.cfg.to_dict(),
        "test_accuracy": 0.1,
    }
    save_checkpoint(model, path, card)
    return path


def test_a_loaded_teacher_is_frozen_in_eval_mode(tmp_path):
    path = save_teacher(tmp_path / "teacher.safetensors")
    cfg = TrainConfig(teacher=str(path), distill="soft", distill_tau=2.0)
    teacher = load_teacher(cfg, tiny_vit(), torch.device("cpu"))
    assert not teacher.model.training and not teacher.two_heads
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert teacher.record["tau"] == 2.0 and teacher.record["head"] == "head"


@pytest.mark.parametrize(
    "mode, student, head", [("hard", "--distilled", "head_dist"), ("soft", "", "head")]
)
def test_a_distilled_run_records_its_teacher_and_resumes_with_it(
    tiny_cifar, tmp_path, mode, student, head
):
    teacher = save_teacher(tmp_path / "teacher.safetensors")
    run = tmp_path / "run"
    flags = f"{TINY_FLAGS} {student} --epochs 2 --stop-after 1 --batch-size 64"
    fast_run(tiny_cifar, run, f"{flags} --teacher {teacher} --distill {mode}")
    card = read(run / "checkpoint.json")
    assert card["teacher"]["checkpoint"] == str(teacher)
    assert (card["teacher"]["distill"], card["teacher"]["head"]) == (mode, head)
    recipe = read(run / "config.json")
    assert (recipe["teacher"], recipe["distill"]) == (str(teacher), mode)
    assert metrics(run)[0]["teacher_seconds"] > 0
    # the resumed run loads the teacher again, from its config alone
    teacher.rename(tmp_path / "elsewhere.safetensors")
    with pytest.raises(SystemExit, match="no checkpoint there"):
        main(["--resume", str(run), "--quiet"])
    (tmp_path / "elsewhere.safetensors").rename(teacher)
    main(["--resume", str(run), "--quiet"])
    summary = read(run / "summary.json")
    assert summary["epochs"] == 2 and 0 < summary["teacher_share"] < 1
    assert summary["teacher_seconds"] == pytest.approx(
        metrics(run)[1]["teacher_seconds"], abs=0.01
    )
    model, _ = load_checkpoint(run)
    assert (model.dist_token is not None) == (head == "head_dist")


def test_a_cached_teacher_run_counts_its_one_pass_and_records_it(tiny_cifar, tmp_path):
    teacher = save_teacher(tmp_path / "teacher.safetensors")
    run = tmp_path / "run"
    flags = f"{TINY_FLAGS} --distilled --epochs 2 --batch-size 64 --teacher-cache"
    flags += " --mixup-alpha 0 --cutmix-alpha 0"
    fast_run(tiny_cifar, run, f"{flags} --teacher {teacher} --distill hard")
    cache = read(run / "checkpoint.json")["teacher"]["cache"]
    first, second = metrics(run)
    assert cache["images"] > 0 and cache["seconds"] > 0
    assert first["teacher_seconds"] == pytest.approx(cache["seconds"], abs=0.01)
    assert second["teacher_seconds"] == 0  # looked up, not run
    assert first["epoch_seconds"] > cache["seconds"]  # the pass counts in the time
    assert read(run / "config.json")["teacher_cache"] is True


def one_line_error(args) -> str:
    with pytest.raises(SystemExit) as e:
        main(args)
    message = str(e.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


@pytest.mark.parametrize(
    "flags, words",
    [
        ("--teacher t.safetensors", ["--teacher", "--distill", "go together"]),
        ("--distill hard", ["--teacher", "go together"]),
        ("--teacher t --distill hard --distill-tau 0", ["--distill-tau", "positive"]),
        ("--model resnet8 --distilled", ["--distilled needs a ViT", "resnet8"]),
        ("--teacher-cache", ["--teacher-cache", "--teacher CHECKPOINT"]),
        (
            "--teacher t --distill hard --teacher-cache --mixup-alpha 0.8",
            ["--teacher-cache", "clean images", "mixup"],
        ),
    ],
)
def test_a_half_given_or_impossible_distillation_is_refused(flags, words):
    message = one_line_error(argv(flags))
    assert all(w in message for w in words), message


def test_a_bad_teacher_is_named_in_one_line(tiny_cifar, tmp_path):
    base = argv("--debug --quiet --threads 1 --data-dir", tiny_cifar, "--distill hard")
    missing = tmp_path / "nowhere.safetensors"
    message = one_line_error(base + argv("--out", tmp_path / "a", "--teacher", missing))
    assert str(missing) in message and "no checkpoint there" in message
    hundred = save_teacher(tmp_path / "t100.safetensors", num_classes=100)
    message = one_line_error(base + argv("--out", tmp_path / "b", "--teacher", hundred))
    assert "predicts 100 classes" in message and "CIFAR-10's 10" in message
    avg = argv("--debug --quiet --data-dir", tiny_cifar, "--out", tmp_path / "c")
    avg += argv("--model vit_laptop --distilled")
    assert "pool='cls'" in one_line_error(avg)


def test_a_shipped_model_teaches_by_its_name():
    cfg = TrainConfig(teacher="vit_laptop_hour", distill="hard")
    teacher = load_teacher(cfg, tiny_vit(distilled=True), torch.device("cpu"))
    assert teacher.two_heads and teacher.record["model"] == "vit_laptop"
    assert teacher.record["checkpoint"] == "vit_laptop_hour"
