"""The teachers' slide decks (book/tools/make_slides.py) and the concept map
(book/tools/concept_map.py): a deck for every chapter, a slide for each of its ##
sections, nothing loaded from another server, no solution given away, and the
committed concept map is what the code draws."""

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from conftest import leaked_solutions, readable_text, solution_fingerprints

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "tools"))

import concept_map  # noqa: E402
from make_slides import make_slides  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
VENDOR = ROOT / "book" / "_generated" / "vendor"


class _Slides(HTMLParser):
    """The headings of each top-level <section> (a slide and its sub-slides) in turn,
    and every src and href."""

    def __init__(self):
        super().__init__()
        self.depth, self.heading = 0, None
        self.slides: list[list[str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "section":
            self.depth += 1
            if self.depth == 1:
                self.slides.append([])
        elif re.fullmatch(r"h[1-3]", tag) and self.depth:
            self.heading = ""

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1
        elif re.fullmatch(r"h[1-3]", tag) and self.heading is not None:
            self.slides[-1].append(self.heading.replace("¶", "").strip())
            self.heading = None

    def handle_data(self, data):
        if self.heading is not None:
            self.heading += data


def _parse(deck: Path) -> _Slides:
    parser = _Slides()
    parser.feed(deck.read_text(encoding="utf8"))
    return parser


def _headings(path: Path, level: str) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    found = []
    for cell in cells:
        if cell.cell_type == "markdown":
            found += re.findall(rf"^{level} (.+)$", cell.source, re.MULTILINE)
    return [h.replace("`", "") for h in found]


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    """The decks of notebooks/, in a folder beside the vendored scripts, as the site
    serves them (_static/slides/ and _static/vendor/)."""
    if not (VENDOR / "reveal.js" / "dist" / "reveal.js").is_file():
        subprocess.run(["make", "vendor"], cwd=ROOT, check=True)
    site = tmp_path_factory.mktemp("static")
    (site / "vendor").symlink_to(VENDOR)
    make_slides(ROOT / "notebooks", site / "slides")
    return site / "slides"


def test_every_chapter_has_a_deck(decks):
    assert NOTEBOOKS
    assert sorted(p.stem for p in decks.glob("*.html")) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_slide_for_each_section(decks, path):
    slides = _parse(decks / f"{path.stem}.html").slides
    firsts = [headings[0] for headings in slides]
    assert firsts == [
        _headings(path, "#")[0],
        "Objectives",
        *_headings(path, "##"),
    ]
    subs = [h for headings in slides for h in headings[1:]]
    assert subs == _headings(path, "###")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_deck_loads_nothing_from_another_server(decks, path):
    deck = decks / f"{path.stem}.html"
    links = _parse(deck).links
    assert any("vendor/reveal.js/dist/reveal.js" in link for link in links)
    outside = [link for link in links if re.match(r"(https?:)?//", link)]
    assert not outside, outside
    local = [link.split("#")[0] for link in links if not link.startswith("#")]
    missing = [link for link in local if not (deck.parent / link).exists()]
    assert not missing, f"{deck.name} loads files that are not there: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_deck_gives_no_solution_away(decks, path):
    # the student site serves the same decks as the instructor's
    text = readable_text(decks / f"{path.stem}.html")
    assert leaked_solutions(text, solution_fingerprints()) == []


def test_figures_go_with_the_deck_and_a_missing_one_is_left_out(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "shown.svg").write_text("<svg/>", encoding="utf8")
    source = "\n\n".join(
        [
            "## A section",
            "![a figure](figures/shown.svg)",
            "![not drawn yet](figures/absent.svg)",
            "The speaker's notes.",
        ]
    )
    cells = [
        nbformat.v4.new_markdown_cell("# 0. Title\n\n**Objectives.** You can\n\n- x"),
        nbformat.v4.new_markdown_cell(source),
    ]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "00_t.ipynb")
    (deck,) = make_slides(tmp_path, tmp_path / "out")
    html = deck.read_text(encoding="utf8")
    assert 'src="figures/shown.svg"' in html
    assert (tmp_path / "out" / "figures" / "shown.svg").is_file()
    assert "absent.svg" not in html
    assert '<aside class="notes">' in html and "The speaker's notes." in html


def test_the_committed_concept_map_is_what_the_code_draws():
    assert concept_map.SVG.read_text(encoding="utf8") == concept_map.svg_text(), (
        "run: python book/tools/concept_map.py"
    )


def test_the_concept_map_names_every_chapter():
    taught = {chapter for _, _, chapter in concept_map.IDEAS}
    assert taught == {int(p.name[:2]) for p in NOTEBOOKS}


def test_the_instructor_guide_links_every_deck_and_the_concept_map():
    guide = (ROOT / "book" / "instructor_guide.md").read_text(encoding="utf8")
    for path in NOTEBOOKS:
        assert f'href="../_static/slides/{path.stem}.html"' in guide, path.stem
    assert "concept_map.svg" in guide
