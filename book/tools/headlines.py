"""The Results page's first table: each headline result, its goal and its machine,
read from vit_core/results/ (a row says "not measured yet" when its file is absent).
It must fit the first screen, so each cell is a few words; the sections below it and
the appendix hold the rest."""

from __future__ import annotations

from results_view import html_table
from search_log import GOALS

from vit_core.course.comparison import lengths, model_runs
from vit_core.course.ladder import ladder_rows
from vit_core.records import RESULTS_DIR, load_result

RECORDS = {  # file -> its headline: the preset that made it, and for how long
    "cpu_laptop.json": "laptop, 15 min",
    "cpu_hour.json": "laptop-hour, 60 min",
    "cpu_plain_hour.json": "plain-hour, 60 min",
    "cpu_plain_hour_distilled.json": "plain-hour + AirNet, 60 min",
    "cpu_hour_distilled.json": "laptop-hour + AirNet, 60 min",
}
MISSING = "not measured yet"


def short(device: str) -> str:
    """``Intel(R) Xeon(R) Processor, 2 threads`` -> ``Intel Xeon, 2 threads``."""
    return device.replace("(R)", "").replace(" Processor", "")


def machines(records: list[dict]) -> str:
    return "; ".join(sorted({short(r["device"]) for r in records}))


def row(headline: str, goal: str, result: str = MISSING, machine: str = "") -> dict:
    return {"headline": headline, "result": result, "goal": goal, "machine": machine}


def record_row(name: str) -> dict:
    r = load_result(name)
    goal = f"{GOALS[name]:.0%}"
    if r is None:
        return row(RECORDS[name], goal)
    met = "reached" if r["test_accuracy"] >= GOALS[name] else "not reached"
    return row(
        RECORDS[name],
        f"{goal}, {met}",
        f"{r['test_accuracy']:.2%} ({r['model']}, {r['epochs']:.1f} epochs)",
        short(r["device"]),
    )


def ladder_row() -> dict:
    records = load_result("cpu_ablation.json") or []
    runs = sorted({r["epochs"] for r in records if r["kind"] == "ladder"})
    if not runs:
        return row("ablation ladder", "each trick measured")
    rungs = ladder_rows(records, runs[0])[1:]
    best = max(rungs, key=lambda r: r["gain"])
    worst = min(rungs, key=lambda r: r["gain"])
    return row(
        "ablation ladder",
        "each trick measured",
        f"{best['name']} {best['gain']:+.2f}, {worst['name']} {worst['gain']:+.2f} "
        f"({runs[0]} epochs a rung)",
        machines(records),
    )


def models_row() -> dict:
    models = load_result("cpu_models.json") or []
    budgets, _ = lengths(models)
    if not budgets:
        return row("ViT against CNN", "measured, not claimed")
    runs = model_runs(models, budget=budgets[0])
    ranked = sorted(runs, key=lambda r: r["test_accuracy"], reverse=True)
    top = ", ".join(f"{r['model']} {r['test_accuracy']:.1%}" for r in ranked[:3])
    return row(
        "ViT against CNN",
        "measured, not claimed",
        f"{top}, {len(ranked) - 3} more ({budgets[0] / 60:.0f} min each)",
        machines(runs),
    )


def bench_row() -> dict:
    drop = load_result("bench_patch_drop_vit_laptop.json")
    compiled = load_result("bench_compile_vit_laptop.json")
    cpu = load_result("bench_cpu.json")
    found = [b for b in (drop, compiled, cpu) if b]
    if not found:
        return row("speed benchmarks", "against a baseline, same run")
    parts = []
    if drop:
        parts.append(f"patch drop {drop['patch-drop']['speedup']['drop 0.5']:.2f}x")
    if compiled:
        parts.append(
            f"compile {compiled['compile']['speedup_compiled']['drop 0.5']:.2f}x"
        )
    if cpu:
        parts.append(f"data on the device {cpu['pipeline']['speedup']:.2f}x")
        parts.append(
            f"step time vs timm {cpu['timm']['time_ratio_ours_over_timm']:.2f}x"
        )
    return row(
        "speed benchmarks",
        "against a baseline, same run",
        ", ".join(parts),
        machines(found),
    )


def gpu_row() -> dict:
    found = sorted(p.name for p in RESULTS_DIR.glob("gpu_*.json"))
    return row("GPU runs", "the full recipe", ", ".join(found) or MISSING)


def headline_rows() -> list[dict]:
    records = [record_row(name) for name in RECORDS]
    return records + [ladder_row(), models_row(), bench_row(), gpu_row()]


def headline_table() -> str:
    return html_table(
        ["headline", "result", "goal", "machine"], headline_rows(), "glance headlines"
    )
