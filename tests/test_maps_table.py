"""Chapter 8's table of the maps' deletion curves (book/tools/maps_table.py): a row per
method with the file's numbers, smallest area first; a malformed record is refused by
name; the sentences call an order only where the intervals are apart."""

import copy

import maps_table
import pytest

from vit_core.records import load_result


@pytest.fixture
def measured() -> dict:
    return copy.deepcopy(load_result(maps_table.FILE))


def made(**intervals) -> dict:
    """A record whose methods have the given (low, area, high)."""
    return {
        "images": 7,
        "deletion": {
            m: {"area": area, "area_95": [low, high]}
            for m, (low, area, high) in intervals.items()
        },
    }


def test_the_table_has_a_row_per_method_with_the_files_numbers(measured):
    rows = maps_table.deletion_rows(measured)
    assert sorted(r["method"] for r in rows) == sorted(maps_table.METHODS)
    chance = measured["deletion"]["random"]["area"]
    for r in rows:
        entry = measured["deletion"][r["method"]]
        assert r["area"] == entry["area"]
        assert [r["low"], r["high"]] == entry["area_95"]
        assert r["vs_random"] == pytest.approx(entry["area"] - chance)


def test_rows_run_from_the_smallest_area(measured):
    areas = [r["area"] for r in maps_table.deletion_rows(measured)]
    assert areas == sorted(areas)
    measured["deletion"]["random"]["area_95"] = [0.0, 1.0]
    measured["deletion"]["random"]["area"] = 0.01
    assert maps_table.deletion_rows(measured)[0]["method"] == "random"


def test_the_html_table_shows_each_row_as_the_file_has_it(measured):
    html = maps_table.deletion_table(measured)
    assert html.count("<tr>") == 1 + len(maps_table.METHODS)
    for r in maps_table.deletion_rows(measured):
        assert f"<td>{r['area']:.3f}</td>" in html
        assert f"<td>{r['low']:.3f}–{r['high']:.3f}</td>" in html
    body = html.split("<tbody>")[1]
    positions = [
        body.index(f"<td>{r['method']}</td>")
        for r in maps_table.deletion_rows(measured)
    ]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["deletion"].pop("rollout"), r"deletion\['rollout'\] needs"),
        (lambda d: d["deletion"]["random"].pop("area"), r"deletion\['random'\] needs"),
        (
            lambda d: d["deletion"]["rollout"].update(area_95=[0.3]),
            r"'area_95' of two numbers",
        ),
        (
            lambda d: d["deletion"]["raw attention"].update(area="n/a"),
            r"deletion\['raw attention'\] needs",
        ),
        (
            lambda d: d["deletion"]["class-specific"].update(area=0.9),
            r"area 0.9 is not inside",
        ),
        (lambda d: d.pop("deletion"), "has no 'deletion' object"),
    ],
)
def test_a_malformed_record_is_refused_with_what_is_wrong(measured, change, message):
    change(measured)
    with pytest.raises(ValueError, match=message):
        maps_table.deletion_table(measured)


def test_a_missing_file_says_how_to_make_it(monkeypatch):
    monkeypatch.setattr(maps_table, "load_result", lambda name: None)
    with pytest.raises(FileNotFoundError, match="scripts/maps_faithfulness.py"):
        maps_table.deletion_rows()


def test_an_order_is_called_only_where_the_intervals_are_apart():
    apart = made(
        **{
            "class-specific": (0.1, 0.15, 0.2),
            "raw attention": (0.3, 0.35, 0.4),
            "rollout": (0.45, 0.5, 0.55),
            "random": (0.5, 0.55, 0.6),
        }
    )
    text = maps_table.deletion_reading(apart)
    assert text.startswith("Over 7 test images")
    assert "supports the class-specific map" in text
    assert "Rollout's interval overlaps random's: not resolved" in text
    close = copy.deepcopy(apart)
    close["deletion"]["raw attention"] = {"area": 0.22, "area_95": [0.18, 0.26]}
    text = maps_table.deletion_reading(close)
    assert "supports" not in text
    assert "overlaps raw attention's" in text and "is not resolved" in text
    none = copy.deepcopy(apart)
    none["deletion"]["random"] = {"area": 0.2, "area_95": [0.0, 0.9]}
    assert "supports none of the maps" in maps_table.deletion_reading(none)


def test_the_sentences_read_the_measured_file(measured):
    text = maps_table.deletion_reading(measured)
    assert text.startswith(f"Over {measured['images']} test images")
    check = maps_table.randomisation_reading(measured)
    every = measured["randomisation"][-1]
    for m in maps_table.MAPS:
        assert f"{every[m]:+.2f} ({m})" in check
    border = maps_table.border_reading(measured)
    assert f"{measured['border']['grid_share']:.1%} of the patches" in border
    assert f"rollout {measured['border']['rollout']:.1%}" in border


def test_the_randomisation_table_counts_blocks_from_1(measured):
    html = maps_table.randomisation_table(measured)
    depth = len(measured["token_norms"])
    assert html.count("<tr>") == 1 + len(measured["randomisation"])
    assert f"head + blocks 1–{depth}" in html and f"head + block {depth}<" in html
    assert maps_table.reinitialised(0, depth) == "head"


def test_the_heads_reading_renders_each_layers_correlations(measured):
    corr = measured["head_correlation"]
    text = maps_table.heads_reading(measured)
    for a, b in zip(corr["same_image"], corr["different_images"]):
        assert f"{a:+.2f} ({b:+.2f})" in text
    corr["same_image"] = [0.0, 0.9, 0.0, 0.0]
    corr["different_images"] = [0.0, 0.0, 0.0, 0.0]
    assert "Layer 2's heads agree the most beyond the control, by +0.90" in (
        maps_table.heads_reading(measured)
    )
