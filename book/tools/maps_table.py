"""Chapter 8's reading of vit_core/results/maps_faithfulness.json, the file that
``python scripts/maps_faithfulness.py`` writes: the deletion-curve area of each map
against random deletion, and sentences on two sanity checks (re-initialised weights,
Adebayo et al. 2018; the image border and high-norm tokens, Darcet et al. 2024).

Two methods are ordered only when their 95% bootstrap intervals do not overlap: an area
is a mean over a sample of images, and a smaller area inside the other's interval is
not yet a finding.
"""

from __future__ import annotations

import math

from recipe import and_join
from results_view import html_table

from vit_core.course.checks.maps import intervals_apart as apart
from vit_core.records import load_result

FILE = "maps_faithfulness.json"
METHODS = ("raw attention", "rollout", "class-specific", "random")
CHANCE = METHODS[-1]
MAPS = METHODS[:-1]
# A map whose rank correlation with the trained model's stays above this did not change:
# floats of one computation correlate at 1 up to rounding.
SAME = 0.99
# Two maps whose correlation is smaller than this in size share little of their shape:
# a tenth of the variance of one explains the other (0.3² ≈ 0.1).
UNRELATED = 0.3
# in sentences a method needs a name that reads as a noun; the table keeps the file's
NOUN = {
    "raw attention": "raw attention",
    "rollout": "rollout",
    "class-specific": "the class-specific map",
    "random": "random deletion",
}
COLUMNS = ("method", "area under the curve", "95% interval", "minus random")


def record(data: dict | None = None) -> dict:
    """``data``, or the results file when it is None."""
    data = load_result(FILE) if data is None else data
    if data is None:
        raise FileNotFoundError(
            f"vit_core/results/{FILE} is missing: "
            "run python scripts/maps_faithfulness.py"
        )
    return data


def checked(method: str, entry) -> tuple[float, float, float]:
    """(area, low, high) of one method's deletion record, or a ValueError naming what
    is wrong with it: a table must not show a number the file does not hold."""
    where = f"{FILE}: deletion[{method!r}]"
    try:
        area = float(entry["area"])
        low, high = (float(v) for v in entry["area_95"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"{where} needs an 'area' and an 'area_95' of two numbers, not {entry!r}"
        ) from e
    if not all(map(math.isfinite, (area, low, high))) or not low <= area <= high:
        raise ValueError(f"{where}: area {area} is not inside [{low}, {high}]")
    return area, low, high


def deletion_rows(data: dict | None = None) -> list[dict]:
    """One row per method (the three maps and random), smallest area first:
    ``method``, ``area``, ``low`` and ``high`` (its 95% interval) and ``vs_random``."""
    deletion = record(data).get("deletion")
    if not isinstance(deletion, dict):
        raise ValueError(f"{FILE} has no 'deletion' object")
    numbers = {m: checked(m, deletion.get(m)) for m in METHODS}
    chance = numbers[CHANCE][0]
    rows = [
        {"method": m, "area": a, "low": lo, "high": hi, "vs_random": a - chance}
        for m, (a, lo, hi) in numbers.items()
    ]
    return sorted(rows, key=lambda r: r["area"])


def deletion_table(data: dict | None = None) -> str:
    """The rows of :func:`deletion_rows` as the book's HTML table."""
    cells = [
        {
            COLUMNS[0]: r["method"],
            COLUMNS[1]: f"{r['area']:.3f}",
            COLUMNS[2]: f"{r['low']:.3f}–{r['high']:.3f}",
            COLUMNS[3]: "–" if r["method"] == CHANCE else f"{r['vs_random']:+.3f}",
        }
        for r in deletion_rows(data)
    ]
    return html_table(list(COLUMNS), cells)


def plural(names: list[str], one: str, more: str) -> str:
    """``names`` joined, then the verb that agrees with them, capitalised: a sentence
    may open with a method's name."""
    text = f"{and_join(names)} {one if len(names) == 1 else more}"
    return text[0].upper() + text[1:]


def deletion_reading(data: dict | None = None) -> str:
    """Which maps beat random deletion, and which map the measurement supports, in
    sentences that say where the intervals leave the order unresolved."""
    rows = deletion_rows(data)
    chance = next(r for r in rows if r["method"] == CHANCE)
    maps = [r for r in rows if r is not chance]
    below = [NOUN[r["method"]] for r in maps if r["high"] < chance["low"]]
    tied = [f"{NOUN[r['method']]}'s" for r in maps if not apart(r, chance)]
    above = [NOUN[r["method"]] for r in maps if r["low"] > chance["high"]]
    out = [f"Over {record(data)['images']} test images,"]
    if below:
        out.append(
            f"deleting in the order of {and_join(below)} costs accuracy sooner than "
            f"random deletion: {'its' if len(below) == 1 else 'each'} 95% interval "
            "lies below random's."
        )
    else:
        out.append(
            "no map costs accuracy sooner than random deletion, beyond the noise."
        )
    if tied:
        out.append(
            f"{plural(tied, 'interval overlaps', 'intervals overlap')} random's: "
            "not resolved."
        )
    if above:
        out.append(f"{plural(above, 'is', 'are')} worse than random.")
    best = maps[0]
    close = [f"{NOUN[r['method']]}'s" for r in maps[1:] if not apart(best, r)]
    name = NOUN[best["method"]]
    if name not in below:
        out.append("The measurement supports none of the maps.")
    elif close:
        out.append(
            f"The smallest area is {name}'s, but its interval overlaps "
            f"{and_join(close)}: which of them finds the evidence sooner is not "
            "resolved."
        )
    else:
        out.append(
            f"The measurement supports {name}: its interval lies below every other's."
        )
    return " ".join(out)


def reinitialised(blocks: int, depth: int) -> str:
    """Which parts a row of the randomisation check re-initialised, counting blocks
    from 1 (the script goes from the top down)."""
    if blocks == 0:
        return "head"
    if blocks == 1:
        return f"head + block {depth}"
    return f"head + blocks {depth - blocks + 1}–{depth}"


def randomisation_table(data: dict | None = None) -> str:
    """The rank correlation of each map with the trained model's, per row of the
    randomisation check."""
    rows = record(data)["randomisation"]
    depth = max(r["blocks_reinitialised"] for r in rows)
    cells = [
        {
            "re-initialised": reinitialised(r["blocks_reinitialised"], depth),
            **{m: f"{r[m]:+.2f}" for m in MAPS},
        }
        for r in rows
    ]
    return html_table(["re-initialised", *MAPS], cells)


def randomisation_reading(data: dict | None = None) -> str:
    """Which maps ignore the classifier head, and how much of each map's ranking
    survives when every block is random."""
    rows = record(data)["randomisation"]
    head, every = rows[0], rows[-1]
    blind = [m for m in MAPS if head[m] > SAME]
    out = []
    if blind:
        out.append(
            f"{plural(blind, 'does', 'do')} not change when only the classifier head "
            "is re-initialised: a map that never reads the head cannot say which class "
            "a patch supports."
        )
    kept = max(MAPS, key=lambda m: every[m])
    out.append(
        f"With the head and all {every['blocks_reinitialised']} blocks re-initialised"
        " (the patch embedding kept), the rank correlations are "
        + and_join([f"{every[m]:+.2f} ({m})" for m in MAPS])
        + f": a ranking kept with every block random is not what the blocks learned, "
        f"and {kept} keeps the most."
    )
    return " ".join(out)


def border_reading(data: dict | None = None) -> str:
    """How much of rollout's and raw attention's mass lies on the border ring, against
    the border's share of the patches, and where the highest-norm token sits."""
    r = record(data)
    border, grid = r["border"], r["border"]["grid_share"]
    mass = and_join(
        [
            f"{m} {border[m]:.1%} ({border[m] / grid:.2f} times the border's share)"
            for m in ("rollout", "raw attention")
        ]
    )
    norms = r["token_norms"]
    # two standard errors of a share counted over the images: a share beyond it is
    # not the luck of which images came first
    noise = 2 * math.sqrt(grid * (1 - grid) / r["images"])
    often = [
        str(layer)
        for layer, n in enumerate(norms, 1)
        if n["top_token_on_border"] > grid + noise
    ]
    layers = "every layer" if len(often) == len(norms) else f"layers {and_join(often)}"
    where = (
        f"in {layers} it is on the border more often than the border's share of the "
        f"patches, by more than two standard errors ({100 * noise:.1f} points)"
        if often
        else "it is on the border no more often than the border's share of the patches"
    )
    ratios = [n["max_over_median"] for n in norms]
    return (
        f"The border ring holds {grid:.1%} of the patches; of the maps' mass it holds "
        f"{mass}. The highest-norm patch token's norm is, on average over the images, "
        f"{min(ratios):.2f} to {max(ratios):.2f} times the median, layer by layer (at "
        f"most {max(n['max_over_median_largest'] for n in norms):.1f} times, on one "
        f"image); {where}."
    )


def heads_reading(data: dict | None = None) -> str:
    """Whether the heads of a layer look at the same patches: the mean correlation of
    two heads' maps on one image, layer by layer, beside the same for two images
    (heads that look where the image's content is would agree more on one image)."""
    r = record(data)
    same = r["head_correlation"]["same_image"]
    other = r["head_correlation"]["different_images"]
    layers = and_join(
        [f"{a:+.2f} ({b:+.2f})" for a, b in zip(same, other, strict=True)]
    )
    most = max(range(len(same)), key=lambda i: same[i] - other[i])
    low = [str(i + 1) for i, a in enumerate(same) if abs(a) < UNRELATED]
    where = "every layer" if len(low) == len(same) else f"layers {and_join(low)}"
    unrelated = (
        f"In {where} the correlation is below {UNRELATED} in size: two heads weight "
        "the patches almost unrelatedly, so on one image they look at different "
        "places. "
        if low
        else ""
    )
    return (
        f"Over {r['images']} test images, two heads of a layer correlate (Pearson's, "
        f"over the patches, mean over the pairs of heads) {layers} in layers 1 to "
        f"{len(same)} on the same image; in brackets, two heads on different images, "
        f"the control. {unrelated}Layer {most + 1}'s heads agree the most beyond the "
        f"control, by {same[most] - other[most]:+.2f}."
    )
