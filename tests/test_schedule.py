"""The learning-rate schedule: it ends at the epochs or the time budget, whichever comes
first. The EMA's decay schedule: warmup from 0 to its cap."""

import math

import pytest
import torch

from vit_core.config import make_config
from vit_core.schedule import MAX_WARMUP_SHARE, Schedule, ema_decay_at, lr_at
from vit_core.train import build_ema


def test_by_steps_it_is_lr_at():
    s = Schedule(1e-3, 1e-5, warmup_steps=10, total_steps=100)
    assert [s.lr(i) for i in range(101)] == [
        lr_at(i, 100, 10, 1e-3, 1e-5) for i in range(101)
    ]
    assert s.lr(100) == pytest.approx(1e-5)


def test_a_time_budget_ends_the_cosine_on_time():
    s = Schedule(1.0, 0.0, warmup_steps=1, total_steps=10_000, budget_s=100.0)
    lrs = [s.lr(i, seconds=float(i)) for i in range(101)]  # a step a second
    assert lrs[0] == 1.0
    assert lrs[50] == pytest.approx(0.5, abs=0.02)  # half the time: half the cosine
    assert lrs[100] == 0.0 and s.finished(100, 100.0)
    assert not s.finished(100, 99.0)


def test_the_epoch_cap_ends_a_budgeted_run_that_runs_out_of_steps_first():
    # The bug this guards against: a run with a 1 h budget but 2 epochs ended at the
    # peak lr.
    s = Schedule(1.0, 0.01, warmup_steps=2, total_steps=20, budget_s=3600.0)
    lrs = [s.lr(i, seconds=i * 1.0) for i in range(20)]
    assert lrs[1] == 1.0 and lrs[-1] < 0.03
    assert s.finished(20, 20.0) and s.lr(20, 20.0) == pytest.approx(0.01)


def test_warmup_longer_than_the_run_is_capped():
    s = Schedule(1.0, 0.0, warmup_steps=1000, total_steps=16)
    lrs = [s.lr(i) for i in range(17)]
    peak = lrs.index(max(lrs))
    assert peak == math.ceil(MAX_WARMUP_SHARE * 16) and lrs[peak] == 1.0
    assert lrs[-1] == 0.0


def test_warmup_end_is_state_that_a_resume_restores():
    a = Schedule(1.0, 0.0, warmup_steps=5, total_steps=10**6, budget_s=10.0)
    lrs = [a.lr(i, seconds=i * 0.1) for i in range(50)]
    b = Schedule(
        1.0,
        0.0,
        warmup_steps=5,
        total_steps=10**6,
        budget_s=10.0,
        warmup_end=a.warmup_end,
    )
    assert b.lr(49, 4.9) == lrs[49]
    assert (
        Schedule(1.0, 0.0, 5, 10**6, 10.0).lr(49, 4.9) != lrs[49]
    )  # without it: warmup again


def test_constant():
    s = Schedule(0.3, 0.0, warmup_steps=10, total_steps=100, kind="constant")
    assert {s.lr(i, 1e9) for i in range(100)} == {0.3}


def test_ema_warmup_starts_at_zero_and_rises_to_its_cap():
    assert ema_decay_at(0, 0.999) == 0.0
    decays = [ema_decay_at(t, 0.999) for t in range(0, 20000, 100)]
    assert decays == sorted(decays) and decays[-1] == 0.999
    # the average's window, 1 / (1 - decay), is (1 + step)^3/4 until the cap
    assert 1 / (1 - ema_decay_at(2000, 0.999)) == pytest.approx(2001**0.75)


def test_the_warmed_up_average_follows_the_decay_and_copies_integer_buffers():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = build_ema(model, make_config(ema=True, ema_warmup=True, ema_decay=0.9))
    ema.update_parameters(model)  # the first update copies the model
    before = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    model[1].num_batches_tracked += 5
    ema.update_parameters(model)
    decay = ema_decay_at(1, 0.9)
    expected = decay * before + (1 - decay) * model[0].weight
    assert torch.allclose(ema.module[0].weight, expected)
    assert ema.module[1].num_batches_tracked == 5
