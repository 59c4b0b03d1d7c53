"""One reveal.js slide deck per chapter, for teaching from the notebooks.

    python book/tools/make_slides.py notebooks book/_generated/slides

A deck is made from a notebook's markdown alone: its title, the Objectives list, a slide
for each ``##`` section and a sub-slide for each ``###``, with the section's figures
(markdown images) on it and its opening paragraph as speaker notes (press S), and the
Summary in full. No code runs and no output is shown, so a deck never holds a CIFAR-10
image. nbconvert's slides exporter renders the decks; the template below swaps its CDN
scripts (reveal.js, RequireJS, jQuery, Mermaid, MathJax 2) for the reveal.js and
MathJax 3 that ``make vendor`` copies into book/_generated/vendor/, which the decks
reach as ../vendor/ once the book serves both folders as _static/: they work offline.
"""

import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import nbformat
from nbconvert import SlidesExporter
from pybtex.database import parse_file

BIB = Path(__file__).resolve().parents[1] / "references.bib"
VENDOR = "../vendor"  # book/_generated/vendor, seen from book/_generated/slides

# The stock reveal template loads its scripts from CDNs and drives MathJax 2's API.
TEMPLATE = """{%- extends 'reveal/index.html.j2' -%}
{% block html_head_js %}{% endblock html_head_js %}
{% block html_head_js_mathjax %}
<script>
window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]]}};
</script>
<script src="VENDOR/mathjax/tex-chtml.js" defer></script>
{% endblock html_head_js_mathjax %}
{% block footer_js %}
<script src="VENDOR/reveal.js/dist/reveal.js"></script>
<script src="VENDOR/reveal.js/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({hash: true, slideNumber: "c/t", plugins: [RevealNotes]});
</script>
{% endblock footer_js %}
""".replace("VENDOR", VENDOR)

FENCE = re.compile(r"^\s*(`{3,}|:{3,})")
HEADING = re.compile(r"^(#{1,3}) (.+)$")
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\([^)]+\)")
ROLE = re.compile(r"\{([\w-]+)(?::[\w-]+)?\}`([^`]+)`")


@dataclass
class Section:
    level: int
    title: str
    lines: list[str] = field(default_factory=list)


def sections(nb) -> list[Section]:
    """The notebook's markdown split at its #, ## and ### headings, without what is
    fenced: code, and the exercises and solutions, so that no deck gives an answer away
    (the student site serves the same decks)."""
    found: list[Section] = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        fence = None
        for line in cell.source.splitlines():
            mark = FENCE.match(line)
            if mark and fence is None:
                fence = mark.group(1)
            elif mark and mark.group(1) == fence:
                fence = None
            elif fence is None and (heading := HEADING.match(line)):
                found.append(Section(len(heading.group(1)), heading.group(2)))
            elif fence is None and found:
                found[-1].lines.append(line)
        if found:
            found[-1].lines.append("")  # a cell ends its paragraph
    return found


def citations() -> dict[str, str]:
    """Author-year labels for the keys of book/references.bib ("Abnar and Zuidema
    2020")."""
    labels = {}
    for key, entry in parse_file(BIB).entries.items():
        names = [p.last_names[0].strip("{}") for p in entry.persons.get("author", [])]
        who = " and ".join(names) if len(names) <= 2 else f"{names[0]} et al."
        labels[key] = f"{who} {entry.fields.get('year', '')}".strip()
    return labels


def plain(text: str, cite: dict[str, str]) -> str:
    """MyST roles and links as the text a slide can show: a citation as its author and
    year, a {term} or {doc} as its words, a link as its text."""

    def role(m: re.Match) -> str:
        name, body = m.group(1), m.group(2)
        if name == "cite":
            return (
                "(" + "; ".join(cite.get(k.strip(), k) for k in body.split(",")) + ")"
            )
        words = body.split(" <")[0]
        return words.rsplit("/", 1)[-1] if name == "doc" else words

    return LINK.sub(r"\1", ROLE.sub(role, text))


def opening(lines: list[str]) -> str:
    """A section's first paragraph of prose (not a table, a figure, display math or
    HTML), for the speaker notes."""
    paragraph: list[str] = []
    for line in lines + [""]:
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            first = paragraph[0].lstrip()
            if not first.startswith(("|", "![", "$$", "<")):
                return "\n".join(paragraph)
            paragraph = []
    return ""


def objectives(title: Section) -> str:
    """The list under **Objectives.** in the opening cell, down to the next bold
    paragraph (Prerequisites)."""
    text = "\n".join(title.lines)
    start = text.index("**Objectives.**")
    rest = text[start:].split("\n**", 1)[0]
    return rest.replace("**Objectives.**", "").strip()


def figures(lines: list[str], notebook_dir: Path, out: Path) -> list[str]:
    """The section's images, copied into out/figures/, as markdown for the slide; an
    image whose file is not there (yet) is left out, with a warning."""
    shown = []
    for alt, src in IMAGE.findall("\n".join(lines)):
        source = (notebook_dir / src).resolve()
        if not source.is_file():
            print(f"make_slides: {src} is missing, left out", file=sys.stderr)
            continue
        (out / "figures").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, out / "figures" / source.name)
        shown.append(f"![{alt}](figures/{source.name})")
    return shown


def cell(source: str, kind: str):
    return nbformat.v4.new_markdown_cell(
        source, metadata={"slideshow": {"slide_type": kind}}
    )


def deck(path: Path, out: Path, cite: dict[str, str]):
    """The slide notebook for one chapter: markdown cells that nbconvert's slides
    exporter turns into slides, sub-slides and speaker notes."""
    parts = sections(nbformat.read(path, as_version=4))
    title = parts[0]
    cells = [
        cell(f"# {plain(title.title, cite)}", "slide"),
        cell("## Objectives\n\n" + plain(objectives(title), cite), "slide"),
    ]
    for part in parts[1:]:
        heading = "#" * part.level + " " + plain(part.title, cite)
        shown = figures(part.lines, path.parent, out)
        if part.title == "Summary":
            body = IMAGE.sub("", "\n".join(part.lines)).strip()
            shown.append(plain(body, cite))
        kind = "slide" if part.level == 2 else "subslide"
        cells.append(cell("\n\n".join([heading, *shown]), kind))
        notes = opening(part.lines)
        if notes and part.title != "Summary":
            cells.append(cell(plain(notes, cite), "notes"))
    return nbformat.v4.new_notebook(cells=cells, metadata={"title": title.title})


def exporter() -> SlidesExporter:
    loader = jinja2.DictLoader({"vit_slides.html.j2": TEMPLATE})
    slides = SlidesExporter(extra_loaders=[loader], template_file="vit_slides.html.j2")
    slides.reveal_url_prefix = f"{VENDOR}/reveal.js"
    slides.reveal_theme = "white"
    return slides


def make_slides(notebooks: Path, out: Path) -> list[Path]:
    """Write out/NN_name.html for every notebook in ``notebooks``; return the decks."""
    out.mkdir(parents=True, exist_ok=True)
    slides, cite = exporter(), citations()
    written = []
    for path in sorted(notebooks.glob("[0-9][0-9]_*.ipynb")):
        html, _ = slides.from_notebook_node(deck(path, out, cite))
        target = out / f"{path.stem}.html"
        target.write_text(html, encoding="utf8")
        written.append(target)
    return written


if __name__ == "__main__":
    for written in make_slides(Path(sys.argv[1]), Path(sys.argv[2])):
        print(written)
