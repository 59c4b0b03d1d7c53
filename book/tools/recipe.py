"""The laptop recipes' choices, one sentence each, read from the search log.

Chapter 6 says *why* each part of the ``laptop`` and ``laptop-hour`` presets is there;
:func:`recipe_sentences` gives each part its measured effect, from the files that the
appendix ("How the laptop recipes were found") renders in full: the runs of
``vit_core/results/cpu_experiments.jsonl`` and the step benchmarks ``bench_*.json``.

Each difference is read against the noise of its measurement: twice the standard
error of the difference of two accuracies on the validation split
(:func:`vit_core.course.checks.accuracy_noise`). A smaller difference is a tie, whatever
its sign; the spread between seeds can be larger still.
"""

from __future__ import annotations

from search_log import COMPARISON, lone_changes, preset_of, timed_pairs

from vit_core.config import PRESETS
from vit_core.course.checks import accuracy_noise
from vit_core.records import load_result

CHOICES = ("Muon", "patch dropout", "batch size", "crops", "AutoAugment", "compile")


def noise(a: dict, b: dict) -> float:
    """The lead, in points, that the validation accuracies of runs ``a`` and ``b``
    can resolve."""
    return accuracy_noise(
        [a["val_accuracy"], b["val_accuracy"]], a["recipe"]["val_split"]
    )


def gain(base: dict, other: dict) -> tuple[float, float]:
    """(points ``other`` is ahead of ``base`` on the validation split, the noise)."""
    return 100 * (other["val_accuracy"] - base["val_accuracy"]), noise(base, other)


def reading(gains: list[tuple[float, float]]) -> str:
    """How differences (points, noise), one per seed or model, read: beyond the
    noise or a tie, and which way they point."""
    n = len(gains)
    every = "" if n == 1 else (" at both" if n == 2 else f" at all {n}")
    if all(g > e for g, e in gains):
        return "ahead beyond the noise" + every
    if all(g < -e for g, e in gains):
        return "behind beyond the noise" + every
    beyond = sum(abs(g) > e for g, e in gains)
    if beyond:
        return f"beyond the noise at {beyond} of {n}"
    if n > 1 and all(g > 0 for g, _ in gains):
        return f"a tie at each, though ahead{every}"
    if n > 1 and all(g < 0 for g, _ in gains):
        return f"a tie at each, though behind{every}"
    return "a tie"


def and_join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def gains_text(gains: list[tuple[float, float]], where: list[str]) -> str:
    """``+0.70 and +0.60 points (seed 0 and seed 1; noise ±1.8): a tie at each, ...``:
    the differences (points, noise), each measured at one of ``where``."""
    points = and_join([f"{g:+.2f}" for g, _ in gains])
    top = max(e for _, e in gains)
    return f"{points} points ({and_join(where)}; noise ±{top:.1f}): {reading(gains)}"


def seed(r: dict) -> int:
    return r["recipe"].get("seed", 0)


def pairs_of(experiments: list[dict], preset: str, what: str) -> list[tuple]:
    """The ``timed_pairs`` of ``preset`` that made the change ``what``."""
    return [
        (base, other)
        for change, base, other in timed_pairs(experiments)
        if change == what and preset_of(base["command"]) == preset
    ]


def change_text(experiments: list[dict], preset: str, what: str) -> str | None:
    """A change to ``preset``'s minutes, over the seeds of its pairs, or None."""
    pairs = pairs_of(experiments, preset, what)
    if not pairs:
        return None
    gains = [gain(base, other) for base, other in pairs]
    return gains_text(gains, [f"seed {seed(base)}" for base, _ in pairs])


def muon_sentence(experiments: list[dict]) -> str:
    """Muon against AdamW in the equal-epoch comparisons (same model, lr, epochs)."""
    runs = [r for r in experiments if (r["note"] or "").startswith(COMPARISON)]
    pairs = []
    for m in (r for r in runs if r["recipe"]["optimizer"] == "muon"):
        same = ("model", "lr", "epochs")
        for a in runs:
            if a["recipe"]["optimizer"] == "adamw" and all(
                a["recipe"][k] == m["recipe"][k] for k in same
            ):
                pairs.append((a, m))
                break
    if not pairs:
        return "Muon: not measured yet."
    slower = and_join([f"{1 - m['img_per_s'] / a['img_per_s']:.0%}" for a, m in pairs])
    epochs = pairs[0][1]["epochs"]
    return (
        f"Muon against AdamW, {epochs:g} epochs each on the validation split: "
        + gains_text([gain(a, m) for a, m in pairs], [a["model"] for a, _ in pairs])
        + f", at {slower} fewer images per second."
    )


def patch_drop_sentence(experiments: list[dict], bench: dict | None) -> str:
    """The preset's patch dropout: the step's speed-up, and the equal-epoch runs that
    drop patches against the comparison runs that keep every one."""
    laptop = PRESETS["laptop"]
    key = ("model", "optimizer", "lr")
    base = [r for r in experiments if (r["note"] or "").startswith(COMPARISON)]
    pairs = []
    for r in experiments:
        recipe = r["recipe"]
        if r["stopped_by"] == "time budget" or r.get("val_accuracy") is None:
            continue
        if (recipe.get("patch_drop"), recipe.get("patch_drop_until")) != (
            laptop.patch_drop,
            laptop.patch_drop_until,
        ):
            continue
        same = [
            b
            for b in base
            if all(b["recipe"][k] == recipe[k] for k in key) and seed(b) == seed(r)
        ]
        if same:
            pairs.append((same[-1], r))
    if not pairs or bench is None:
        return "Patch dropout: not measured yet."
    speedup = bench["patch-drop"]["speedup"][f"drop {laptop.patch_drop:g}"]
    b, r = pairs[0]
    return (
        f"Dropping {laptop.patch_drop:.0%} of the patches made {bench['model']}'s "
        f"training step {speedup:.2f}x as fast; {r['epochs']:g} epochs that drop them "
        f"for the first {laptop.patch_drop_until:.0%} of the run, about the compute "
        f"of {b['epochs']:g} with every patch, against those {b['epochs']:g} on the "
        "validation split: "
        + gains_text(
            [gain(b, r) for b, r in pairs],
            [f"{r['model']} seed {seed(r)}" for _, r in pairs],
        )
        + "."
    )


def batch_sentence(experiments: list[dict], steps: dict | None) -> str:
    """Batch 128 against 64: 15 minutes and an hour, and Muon's share of a step."""
    quarter = change_text(experiments, "laptop", "batch_size 128")
    hour = change_text(experiments, "laptop-hour", "batch_size 128")
    if quarter is None or steps is None:
        return "Batch size: not measured yet."
    drop = f"drop {PRESETS['laptop'].patch_drop:g}"
    share = steps["step"][drop]["share"]["muon"]
    return (
        f"Batch 128 against 64, side by side for 15 minutes: {quarter}; over the hour: "
        f"{hour}; Muon's update, paid once a step whatever its batch, takes "
        f"{share:.0%} of {steps['model']}'s step with "
        f"{PRESETS['laptop'].patch_drop:.0%} of the patches dropped."
    )


def crops_sentence(experiments: list[dict]) -> str:
    """Milder random crops (a smaller padding) against the preset's crops."""
    parts = []
    for preset, minutes in (("laptop", "15 minutes"), ("laptop-hour", "the hour")):
        changes = {}  # padding tried -> the preset's padding then, in the log's order
        for what, base, _ in timed_pairs(experiments):
            if (
                what.startswith("crop_padding ")
                and preset_of(base["command"]) == preset
            ):
                changes.setdefault(what, base["recipe"]["crop_padding"])
        for what, was in changes.items():
            text = change_text(experiments, preset, what)
            parts.append(
                f"over {minutes}, padding {what.split()[1]} against {was}: {text}"
            )
    if not parts:
        return "Crops: not measured yet."
    return "Crops (pixels of padding before a random crop), " + "; ".join(parts) + "."


def autoaugment_sentence(experiments: list[dict]) -> str:
    text = change_text(experiments, "laptop-hour", "autoaugment autoaugment")
    if text is None:
        return "AutoAugment: not measured yet."
    return f"AutoAugment against none, side by side for an hour: {text}."


def compile_sentence(experiments: list[dict], bench: dict | None) -> str:
    """torch.compile: the step's speed-up and warm-up, and the hour pair's epochs."""
    pairs = pairs_of(experiments, "laptop-hour", "compile True")
    if not pairs or bench is None:
        return "Compile: not measured yet."
    sides = bench["compile"]
    drops = list(sides["speedup_compiled"])
    speed = and_join([f"{sides['speedup_compiled'][d]:.2f}x" for d in drops])
    shares = and_join([f"{float(d.removeprefix('drop ')):.0%}" for d in drops])
    warmup = sum(sides[f"compiled, {d}"]["warmup_seconds"] for d in drops)
    budget = PRESETS["laptop"].time_budget
    base, other = pairs[0]
    return (
        f"torch.compile ran the step {speed} as fast with {shares} of the patches "
        f"dropped, after {warmup:.0f} s of compiling in all ({warmup / budget:.1%} of "
        f"15 minutes); in the hour it saw {other['epochs']:.1f} epochs against "
        f"{base['epochs']:.1f}, and its validation accuracy moved "
        + change_text(experiments, "laptop-hour", "compile True")
        + "."
    )


def recipe_sentences(experiments: list[dict] | None) -> dict[str, str]:
    """A sentence for each of ``CHOICES``: its measured effect, from ``experiments``
    (the runs of cpu_experiments.jsonl) and the step benchmarks."""
    log = experiments or []
    return {
        "Muon": muon_sentence(log),
        "patch dropout": patch_drop_sentence(
            log, load_result("bench_patch_drop_vit_laptop.json")
        ),
        "batch size": batch_sentence(
            log, load_result("bench_step_vit_laptop_cls.json")
        ),
        "crops": crops_sentence(log),
        "AutoAugment": autoaugment_sentence(log),
        "compile": compile_sentence(log, load_result("bench_compile_vit_laptop.json")),
    }


def pair_rows(experiments: list[dict]) -> list[dict]:
    """The appendix's table: a row for each side-by-side pair of timed runs, then for
    each change compared with the preset's side of an earlier pair (``lone_changes``,
    its seed marked ``*``), in the log's order."""
    pairs = [(*c, "") for c in timed_pairs(experiments)]
    pairs += [(*c, "*") for c in lone_changes(experiments)]
    rows = []
    for what, base, other, lone in pairs:
        points, resolved = gain(base, other)
        rows.append(
            {
                "preset": preset_of(base["command"]),
                "change": what,
                "min": round(base["train_minutes"]),
                "seed": f"{seed(base)}{lone}",
                "preset's side": f"{base['val_accuracy']:.2%}",
                "changed": f"{other['val_accuracy']:.2%}",
                "epochs": f"{base['epochs']:.1f} / {other['epochs']:.1f}",
                "gain": f"{points:+.2f} ±{resolved:.1f}",
                "verdict": reading([(points, resolved)]),
            }
        )
    return rows
