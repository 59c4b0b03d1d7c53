"""The course's diagrams: drawn by book/tools/diagrams.py, committed as drawn, shown in
the chapters, and faithful to the model they picture."""

import json
import re
from pathlib import Path

import diagrams  # book/tools, on the path through conftest.py
import matplotlib.pyplot as plt

from vit_core.model import count_params
from vit_core.registry import create_model

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "book" / "figures"
# a Markdown image, ![alt](path), or a MyST {figure} / {image} directive
IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>[^)\s]+)\)")
DIRECTIVE = re.compile(r"\{(?:figure|image)\}\s+(?P<path>\S+)")


def figure_references(folder: str) -> list[tuple[str, str, Path]]:
    """(notebook, alt text or None, resolved path) of each image in the markdown cells
    of the notebooks in ``folder``."""
    refs = []
    for nb_path in sorted((ROOT / folder).glob("*.ipynb")):
        for cell in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            for m in IMAGE.finditer(text):
                path = (nb_path.parent / m["path"]).resolve()
                refs.append((nb_path.name, m["alt"], path))
            for m in DIRECTIVE.finditer(text):
                refs.append(
                    (nb_path.name, None, (nb_path.parent / m["path"]).resolve())
                )
    return refs


def test_committed_figures_are_what_the_code_draws(capsys):
    assert diagrams.main(["--check"]) == 0, capsys.readouterr().out


def test_every_figure_reference_resolves_and_says_what_it_shows():
    # student/ sits beside notebooks/, so the same relative path must work there too
    refs = figure_references("notebooks") + figure_references("student")
    assert refs, "no notebook shows a figure"
    missing = [f"{nb}: {path}" for nb, _, path in refs if not path.is_file()]
    assert not missing, "figure references to no file:\n" + "\n".join(missing)
    bare = [
        f"{nb}: {path.name}"
        for nb, alt, path in refs
        if alt is not None and len(alt.split()) < 5
    ]
    assert not bare, "images without a descriptive alt text:\n" + "\n".join(bare)


def test_every_drawn_figure_is_shown_in_a_chapter():
    shown = {path.name for _, _, path in figure_references("notebooks")}
    drawn = {path.name for path in FIGURES.glob("*.svg")}
    assert drawn == {f"{name}.svg" for name in diagrams.DIAGRAMS}
    unshown = drawn - shown
    assert not unshown, f"figures no chapter shows: {sorted(unshown)}"


def test_vit_shapes_draws_the_registry_models_counts():
    model = create_model("vit_laptop_plain")
    counts = diagrams.vit_shapes_counts()
    assert counts["total"] == count_params(model)
    parts = ("patch embedding", "position", "blocks", "final norm", "head")
    assert sum(counts[p] for p in parts) == counts["total"], "a part is not drawn"
    assert counts["blocks"] == len(model.blocks) * counts["one block"]
    assert counts["position"] == 0, "the sin-cos position embedding is fixed"
    fig = diagrams.vit_shapes()
    drawn = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    plt.close(fig)
    for part, count in counts.items():
        assert f"{count:,}" in drawn, f"{part}: {count:,} is not in the figure"
    tokens = model.cfg.num_patches  # no CLS token: one token a patch
    assert f"(B,{tokens},{model.cfg.embed_dim})" in drawn


def test_a_drawing_past_the_canvas_is_caught(monkeypatch):
    def too_wide():
        fig, ax = diagrams._figure(2, 1)
        diagrams._chain(ax, 0.5, [("a", diagrams.DATA, 1.0, "(B,N,D)")] * 3)
        return fig

    monkeypatch.setitem(diagrams.DIAGRAMS, "too_wide", too_wide)
    assert diagrams.cut_off("too_wide")
    assert diagrams.main(["--check"]) == 1
