"""TrainConfig: defaults in one place, presets, the command line, and what a resume may
change."""

import dataclasses
import shlex

import pytest

from vit_core.checkpoint import start_run_folder
from vit_core.cli import build_parser, parse_args
from vit_core.config import PRESETS, RUN_FIELDS, TrainConfig, make_config


def test_flags_override_the_preset_and_the_preset_overrides_the_defaults():
    cfg = parse_args(["--preset", "laptop", "--lr", "0.01"])
    assert cfg.lr == 0.01  # the flag
    assert cfg.batch_size == PRESETS["laptop"].batch_size != TrainConfig().batch_size
    assert cfg.weight_decay == TrainConfig().weight_decay  # untouched by both
    assert parse_args([]) == TrainConfig(argv=())


def test_none_switches_off_a_presets_time_budget():
    assert parse_args(["--preset", "laptop"]).time_budget == 900
    assert (
        parse_args(["--preset", "laptop", "--time-budget", "none"]).time_budget is None
    )
    assert parse_args(["--time-budget", "2m"]).time_budget == 120


def test_debug_shrinks_only_what_was_not_given():
    cfg = make_config("laptop", debug=True)
    assert (cfg.epochs, cfg.batch_size, cfg.time_budget) == (2, 64, None)
    cfg = parse_args(["--debug", "--epochs", "3", "--time-budget", "1h"])
    assert (cfg.epochs, cfg.time_budget) == (3, 3600)


def test_bool_flags_both_ways():
    assert parse_args(["--ema"]).ema and not parse_args(["--no-ema"]).ema


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "model": "vit_laptop",
            "ema": True,
            "stem_channels": (16, 32),
            "time_budget": 90.0,
        },
        {"autoaugment": "none", "mixup_alpha": 0.0, "debug": True, "val_split": 100},
        {"distilled": True, "teacher": "t.safetensors", "distill": "soft"},
    ],
)
def test_the_equivalent_command_rebuilds_the_config(values):
    cfg = TrainConfig(**values)
    argv = shlex.split(cfg.command())[3:]
    assert parse_args(argv) == cfg


def test_config_survives_json():
    cfg = parse_args(["--preset", "laptop", "--stem-channels", "16,32", "--ema"])
    again = TrainConfig.from_json(cfg.to_json())
    assert again == cfg and again.argv == cfg.argv


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--epochs", "0"], "--epochs"),
        (["--lr", "-1"], "--lr"),
        (["--model", "vit_huge"], "vit_huge"),
        (["--optimizer", "lion"], "--optimizer"),
        (["--val-split", "-3"], "--val-split"),
        (["--min-lr", "1"], "--min-lr"),
        (["--patch-drop", "1"], "--patch-drop"),
        (["--patch-drop-until", "2"], "--patch-drop-until"),
        (["--crop-padding", "-1"], "--crop-padding"),
        (["--model", "resnet8", "--patch-drop", "0.5"], "resnet8 has no tokens"),
    ],
)
def test_bad_values_name_the_flag(argv, words):
    with pytest.raises(ValueError, match=words):
        parse_args(argv)


def test_recipe_leaves_out_how_to_run():
    recipe = TrainConfig().recipe()
    assert "lr" in recipe and "seed" in recipe and "precision" in recipe
    assert not set(RUN_FIELDS) & set(recipe) and "argv" not in recipe


def test_resume_takes_the_folders_config_and_refuses_a_new_recipe(tmp_path):
    run = tmp_path / "run"
    start_run_folder(
        run,
        parse_args(
            ["--debug", "--epochs", "3", "--stop-after", "1", "--mixup-alpha", "0.2"]
        ),
    )
    cfg = parse_args(["--resume", str(run)])
    assert (cfg.debug, cfg.epochs, cfg.mixup_alpha) == (True, 3, 0.2)
    assert cfg.stop_after is None  # counts per invocation
    assert (
        parse_args(["--resume", str(run), "--stop-after", "1", "--quiet"]).stop_after
        == 1
    )
    with pytest.raises(ValueError, match="--epochs, --mixup-alpha would change it"):
        parse_args(["--resume", str(run), "--epochs", "5", "--mixup-alpha", "0"])
    assert (
        parse_args(["--resume", str(run), "--epochs", "3"]).epochs == 3
    )  # no change: fine


def test_every_field_has_a_flag():

    flags = {a.dest for a in build_parser()._actions}
    assert {f.name for f in dataclasses.fields(TrainConfig)} - flags == {"argv"}


def test_patch_drop_stops_at_its_share_of_the_run():
    cfg = make_config(patch_drop=0.5, patch_drop_until=0.75)
    assert [cfg.patch_drop_at(p) for p in (0.0, 0.74, 0.75, 1.0)] == [0.5, 0.5, 0, 0]
    assert make_config().model_overrides()["patch_drop"] == 0.0
