"""The course's concept map: each idea, the chapter that teaches it, what it leads to.

    python book/tools/concept_map.py   # rewrites book/concept_map.svg

The SVG is committed and shown in the instructor guide and the introduction;
tests/test_slides.py checks that it is what ``draw()`` draws, so the two cannot drift.
"""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

SVG = Path(__file__).resolve().parents[1] / "concept_map.svg"

# (idea, what it adds, chapter), in the order the course builds them.
IDEAS = [
    ("data", "CIFAR-10 as tensors,\nnormalized, augmented", 0),
    ("patches", "an image as a\nsequence", 1),
    ("tokens", "projection, CLS,\npositions", 1),
    ("attention", "softmax(QKᵀ/√d)V", 2),
    ("multi-head", "heads in parallel,\nsplit and merged", 3),
    ("block", "pre-norm, residuals,\nMLP, drop-path", 3),
    ("ViT", "the model, its\nparameter count", 4),
    ("training tricks", "AdamW, schedules,\nmixing, augmentation", 5),
    ("training", "a loop, accuracy,\nViT vs. CNN", 6),
    ("attention maps", "heads, rollout,\nclass-specific", 7),
    ("explorer", "maps in the browser,\na deletion test", 8),
    ("where next", "Swin, DeiT, MAE,\nPVT, CCT", 9),
    ("distillation", "a CNN teacher,\na second token", 10),
]
# The course's four parts, by chapter, with their colours.
PARTS = [
    ("build the model", range(0, 5), "#dbe9f6"),
    ("train it", range(5, 7), "#fde2c8"),
    ("look inside", range(7, 9), "#d9f0d3"),
    ("go further", range(9, 11), "#e8dff5"),
]
COLUMNS = 4


def _colour(chapter: int) -> str:
    return next(colour for _, chapters, colour in PARTS if chapter in chapters)


def _place(i: int) -> tuple[float, float]:
    """Row by row, the second row right to left, so each arrow is short."""
    row, col = divmod(i, COLUMNS)
    if row % 2:
        col = COLUMNS - 1 - col
    return col * 3.2, -row * 2.2


def draw() -> plt.Figure:
    rows = -(-len(IDEAS) // COLUMNS)
    legend = -rows * 2.2 + 0.85  # the parts' legend, under the last row
    fig, ax = plt.subplots(figsize=(11, 6.2 + (rows - 3) * 1.95))
    width, height = 2.5, 1.45
    places = [_place(i) for i in range(len(IDEAS))]
    for (idea, adds, chapter), (x, y) in zip(IDEAS, places):
        ax.add_patch(
            FancyBboxPatch(
                (x - width / 2, y - height / 2),
                width,
                height,
                boxstyle="round,pad=0.05",
                facecolor=_colour(chapter),
                edgecolor="#444444",
            )
        )
        ax.text(x, y + 0.38, idea, ha="center", va="center", weight="bold", size=11)
        ax.text(x, y - 0.15, adds, ha="center", va="center", size=8.5)
        ax.text(
            x + width / 2 - 0.08,
            y + height / 2 - 0.1,
            f"ch. {chapter}",
            ha="right",
            va="top",
            size=8,
            color="#333333",
        )
    for (x0, y0), (x1, y1) in zip(places, places[1:]):
        same_row = y0 == y1
        shift = (width / 2 + 0.05) * (1 if x1 > x0 else -1)
        start = (x0 + shift, y0) if same_row else (x0, y0 - height / 2 - 0.05)
        end = (x1 - shift, y1) if same_row else (x1, y1 + height / 2 + 0.05)
        ax.add_patch(
            FancyArrowPatch(
                start, end, arrowstyle="-|>", mutation_scale=14, color="#444444"
            )
        )
    for i, (name, _, colour) in enumerate(PARTS):
        ax.add_patch(
            FancyBboxPatch(
                (i * 2.6 - 1.25, legend),
                0.35,
                0.3,
                boxstyle="square,pad=0",
                facecolor=colour,
                edgecolor="#444444",
            )
        )
        ax.text(i * 2.6 - 0.75, legend + 0.15, name, va="center", size=10)
    ax.set_xlim(-1.5, 3 * 3.2 + 1.5)
    ax.set_ylim(legend - 0.25, 1.0)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    return fig


def svg_text() -> str:
    """The drawing as SVG text, the same on every run (fixed ids, no date)."""
    with plt.rc_context({"svg.hashsalt": "concept-map"}):
        fig = draw()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return buffer.getvalue()


if __name__ == "__main__":
    SVG.write_text(svg_text(), encoding="utf8")
    print(SVG)
