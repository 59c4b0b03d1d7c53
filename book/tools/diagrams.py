"""Draw the course's diagrams as SVG files in book/figures/.

``python book/tools/diagrams.py`` writes them all; ``--check`` exits 1 when a committed
file differs from what this code draws, so the figures cannot drift from the code.
The image in every figure is an abstract grid: no dataset pixels are committed.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

FIGURES = Path(__file__).resolve().parents[1] / "figures"
# One colour per kind of part, the same in every figure.
DATA, LINEAR, NORM, ATTN, MLP, OUT = (
    "#dbe9f6",
    "#fde2c4",
    "#e3f1d9",
    "#f6d5e3",
    "#e6dcf3",
    "#f3f3c8",
)
EDGE = "#333333"
SHAPE = "#1f5fa8"


def _figure(width: float, height: float):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    return fig, ax


def _box(ax, x, y, w, h, text, color, size=10):
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.08",
            fc=color,
            ec=EDGE,
            lw=1,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=size)


def _arrow(ax, start, end, label=None, offset=(0, 0.12), **kw):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2,
                        color=EDGE, **kw)
    )
    if label:
        mx = (start[0] + end[0]) / 2 + offset[0]
        my = (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, label, ha="center", va="bottom", fontsize=8.5, color=SHAPE)


def _grid(ax, x, y, size, cells, color=DATA, highlight=None):
    """An abstract image: a square of ``cells`` x ``cells`` patches."""
    step = size / cells
    for r in range(cells):
        for c in range(cells):
            fc = "#9ec5e8" if highlight == (r, c) else color
            ax.add_patch(Rectangle((x + c * step, y + size - (r + 1) * step), step,
                                   step, fc=fc, ec=EDGE, lw=0.4))


def _chain(ax, y, items, gap=0.35, h=0.7):
    """Boxes left to right at height ``y``, joined by arrows labelled with shapes.

    ``items`` holds (text, colour, width, shape leaving the box or None)."""
    x = 0.3
    centres = []
    for text, color, w, _ in items:
        centres.append((x + w / 2, w))
        x += w + gap
    for i, ((cx, w), (text, color, _, _)) in enumerate(zip(centres, items)):
        _box(ax, cx, y, w, h, text, color)
        shape = items[i][3]
        if i + 1 < len(items):
            nx, nw = centres[i + 1]
            _arrow(ax, (cx + w / 2, y), (nx - nw / 2, y))
            if shape:
                ax.text((cx + w / 2 + nx - nw / 2) / 2, y - h / 2 - 0.08, shape,
                        ha="center", va="top", fontsize=8.5, color=SHAPE)
    return centres


def pipeline():
    fig, ax = _figure(11, 2.6)
    _grid(ax, 0.3, 0.7, 1.2, 8)
    ax.text(0.9, 2.05, "image", ha="center", fontsize=10)
    steps = [
        ("patchify\n4x4", LINEAR, 1.2, "(B,64,48)"),
        ("linear\nembed", LINEAR, 1.1, "(B,64,D)"),
        ("+ position", DATA, 1.2, "(B,64,D)"),
        ("+ CLS", DATA, 0.9, "(B,65,D)"),
        ("L blocks", ATTN, 1.1, "(B,65,D)"),
        ("CLS\nrow", DATA, 0.8, "(B,D)"),
        ("head", OUT, 0.8, "(B,10)"),
        ("class", OUT, 0.8, None),
    ]
    x = 2.1
    prev = 1.5
    for text, color, w, shape in steps:
        _box(ax, x + w / 2, 1.3, w, 0.8, text, color)
        _arrow(ax, (prev, 1.3), (x, 1.3))
        prev_shape = shape
        x_next = x + w
        x, prev = x_next + 0.3, x_next
        if prev_shape:
            ax.text(prev + 0.15, 0.62, prev_shape, ha="center", va="top", fontsize=8.5,
                    color=SHAPE, rotation=0)
    ax.text(1.8, 0.62, "(B,3,32,32)", ha="center", va="top", fontsize=8.5, color=SHAPE)
    return fig


def patchify():
    fig, ax = _figure(10, 3.4)
    _grid(ax, 0.4, 0.5, 2.4, 8, highlight=(0, 1))
    ax.text(1.6, 3.05, "32x32 image = 8x8 patches of 4x4", ha="center", fontsize=10)
    for i in range(8):
        ax.text(0.4 + (i + 0.5) * 0.3, 0.5 + 2.4 - 0.15, str(i), ha="center",
                va="center", fontsize=6)
    _arrow(ax, (3.0, 1.7), (4.0, 1.7), "row-major", offset=(0, 0.05))
    # The sequence: 64 columns, each a flattened patch of 4*4*3 = 48 numbers.
    shown = [0, 1, 2, 3, None, 62, 63]
    x = 4.3
    for k in shown:
        if k is None:
            ax.text(x + 0.2, 1.7, "...", ha="center", va="center", fontsize=14)
            x += 0.55
            continue
        fc = "#9ec5e8" if k == 1 else DATA
        ax.add_patch(Rectangle((x, 0.7), 0.4, 2.0, fc=fc, ec=EDGE, lw=0.6))
        ax.text(x + 0.2, 0.5, str(k), ha="center", va="center", fontsize=8)
        x += 0.55
    ax.text(6.1, 3.0, "64 patch vectors, 48 numbers each (4*4*3)", ha="center",
            fontsize=10)
    ax.text(6.1, 0.15, "shape (B,3,32,32) -> (B,64,48)", ha="center", fontsize=9,
            color=SHAPE)
    return fig


def multihead():
    fig, ax = _figure(11, 2.8)
    _chain(ax, 1.6, [
        ("x", DATA, 0.5, "(B,N,D)"),
        ("qkv\nlinear", LINEAR, 0.9, "(B,N,3D)"),
        ("reshape", DATA, 1.0, "(B,N,3,H,D/H)"),
        ("permute", DATA, 1.0, "(3,B,H,N,D/H)"),
        ("softmax(QKᵀ/√d)", ATTN, 1.6, "(B,H,N,N)\nx V: (B,H,N,D/H)"),
        ("merge\nheads", DATA, 0.9, "(B,N,D)"),
        ("proj", LINEAR, 0.7, "(B,N,D)"),
        ("out", DATA, 0.6, None),
    ], gap=0.6)
    ax.text(5.5, 2.45, "multi-head self-attention: H heads of width D/H, one matrix "
            "product each", ha="center", fontsize=10)
    return fig


def block():
    fig, ax = _figure(11, 2.9)
    y = 1.2
    xs = {"x": 0.6, "ln1": 1.9, "mha": 3.3, "add1": 4.7, "ln2": 6.0, "mlp": 7.7,
          "add2": 9.4, "out": 10.4}
    _box(ax, xs["x"], y, 0.6, 0.6, "x", DATA)
    _box(ax, xs["ln1"], y, 0.9, 0.6, "LayerNorm", NORM, 9)
    _box(ax, xs["mha"], y, 1.0, 0.6, "MHA", ATTN)
    _box(ax, xs["add1"], y, 0.45, 0.45, "+", "white", 13)
    _box(ax, xs["ln2"], y, 0.9, 0.6, "LayerNorm", NORM, 9)
    _box(ax, xs["mlp"], y, 1.7, 0.6, "MLP: D -> 4D -> D\n(GELU)", MLP, 9)
    _box(ax, xs["add2"], y, 0.45, 0.45, "+", "white", 13)
    _box(ax, xs["out"], y, 0.6, 0.6, "out", DATA)
    halves = {"x": 0.3, "ln1": 0.45, "mha": 0.5, "add1": 0.225, "ln2": 0.45,
              "mlp": 0.85, "add2": 0.225, "out": 0.3}
    order = list(xs)
    for a, b in zip(order, order[1:]):
        _arrow(ax, (xs[a] + halves[a], y), (xs[b] - halves[b], y))
    # The residual paths: the input of each half skips it and is added back.
    for start, add in (("x", "add1"), ("add1", "add2")):
        x0 = xs[start] + (0.15 if start == "x" else 0)
        ax.plot([x0, x0, xs[add]], [y + 0.3 if start == "x" else y + 0.225, y + 1.0,
                                    y + 1.0], color=EDGE, lw=1.2)
        _arrow(ax, (xs[add], y + 1.0), (xs[add], y + 0.225))
    ax.text(2.7, y + 1.08, "residual", ha="center", va="bottom", fontsize=9)
    ax.text(7.0, y + 1.08, "residual", ha="center", va="bottom", fontsize=9)
    ax.text(5.5, 0.25, "pre-norm: normalise before each sub-layer; every arrow carries "
            "(B,N,D)", ha="center", fontsize=9, color=SHAPE)
    return fig


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def vit_shapes_counts(name: str = "vit_laptop_plain") -> dict[str, int]:
    """Trainable parameters of each part of ``name``, as the figure labels them."""
    from vit_core.registry import create_model

    model = create_model(name)
    return {
        "patch embedding": _count(model.patch_embed),
        "blocks": _count(model.blocks),
        "one block": _count(model.blocks[0]),
        "final norm": _count(model.norm) + _count(model.fc_norm),
        "head": _count(model.head),
        "total": _count(model),
    }


def vit_shapes():
    from vit_core.registry import model_config

    cfg = model_config("vit_laptop_plain")
    counts = vit_shapes_counts()
    fig, ax = _figure(11, 3.0)
    d, depth = cfg["embed_dim"], cfg["depth"]
    _chain(ax, 1.5, [
        ("image", DATA, 0.8, "(B,3,32,32)"),
        (f"patch embedding\n{counts['patch embedding']:,}", LINEAR, 1.5,
         f"(B,64,{d})"),
        ("+ sin-cos position\n0 (fixed)", DATA, 1.6, f"(B,64,{d})"),
        (f"{depth} blocks\n{counts['blocks']:,}", ATTN, 1.3, f"(B,64,{d})"),
        (f"mean + norm\n{counts['final norm']:,}", NORM, 1.3, f"(B,{d})"),
        (f"head\n{counts['head']:,}", OUT, 0.9, "(B,10)"),
        ("logits", OUT, 0.8, None),
    ], gap=0.5)
    ax.text(5.5, 2.55, f"vit_laptop_plain: {counts['total']:,} trainable parameters "
            f"(one block: {counts['one block']:,})", ha="center", fontsize=10)
    return fig


def rollout():
    fig, ax = _figure(11, 3.0)
    y = 1.5
    for i, label in enumerate(["Ā_L", "...", "Ā_2", "Ā_1"]):
        x = 0.4 + i * 1.2
        if label == "...":
            ax.text(x + 0.4, y, "...", ha="center", va="center", fontsize=14)
            continue
        _grid(ax, x, y - 0.4, 0.8, 5, ATTN)
        ax.text(x + 0.4, y + 0.55, label, ha="center", fontsize=11)
    ax.text(2.6, 0.45, "Ā_l = rows-renormalised (0.5 A_l + 0.5 I)\nA_l: head-averaged "
            "attention of layer l", ha="center", fontsize=9)
    _arrow(ax, (5.2, y), (6.0, y), "product")
    _grid(ax, 6.2, y - 0.4, 0.8, 5, ATTN, highlight=(0, 0))
    for c in range(5):
        ax.add_patch(Rectangle((6.2 + c * 0.16, y + 0.24), 0.16, 0.16, fc="#9ec5e8",
                               ec=EDGE, lw=0.4))
    ax.text(6.6, y + 0.55, "R", ha="center", fontsize=11)
    ax.text(6.6, 0.75, "CLS row of R", ha="center", fontsize=9)
    _arrow(ax, (7.2, y), (8.3, y), "reshape 8x8", offset=(0, 0.05))
    _grid(ax, 8.5, y - 0.7, 1.4, 8, OUT)
    ax.text(9.2, 0.45, "map over patches", ha="center", fontsize=9)
    ax.text(5.5, 2.7, "attention rollout: R = Ā_L ... Ā_2 Ā_1", ha="center",
            fontsize=11)
    return fig


DIAGRAMS = {
    "pipeline": pipeline,
    "patchify": patchify,
    "multihead": multihead,
    "block": block,
    "vit_shapes": vit_shapes,
    "rollout": rollout,
}


def render(name: str, fmt: str = "svg") -> bytes:
    """The bytes of diagram ``name``: the same every run, so they can be compared."""
    plt.rcParams["svg.hashsalt"] = "vit"
    fig = DIAGRAMS[name]()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    plt.close(fig)
    return buf.getvalue()


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in DIAGRAMS:
        path = FIGURES / f"{name}.svg"
        data = render(name)
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
        else:
            FIGURES.mkdir(exist_ok=True)
            path.write_bytes(data)
    if stale:
        print("out of date (run python book/tools/diagrams.py):", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
