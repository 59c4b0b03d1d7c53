"""Draw the course's diagrams as SVG files in book/figures/.

``python book/tools/diagrams.py`` writes them all; ``--check`` exits 1 when a committed
file differs from what this code draws, so the figures cannot drift from the code. Both
exit 1 when a drawing reaches past the edge of its canvas, which an SVG cuts silently.
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
        FancyArrowPatch(
            start, end, arrowstyle="-|>", mutation_scale=12, lw=1.2, color=EDGE, **kw
        )
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
            ax.add_patch(
                Rectangle(
                    (x + c * step, y + size - (r + 1) * step),
                    step,
                    step,
                    fc=fc,
                    ec=EDGE,
                    lw=0.4,
                )
            )


def _chain(ax, y, items, x0=0.3, gap=0.35, h=0.7, out=None, size=10):
    """Boxes left to right at height ``y``, joined by arrows labelled with shapes.

    ``items`` holds (text, colour, width, shape leaving the box or None). ``out``:
    (shape, name) of an arrow leaving the last box, for a result that needs no box of
    its own. Returns the x where the drawing ends."""
    lefts = [x0]
    for _, _, w, _ in items[:-1]:
        lefts.append(lefts[-1] + w + gap)
    label_y = y - h / 2 - 0.08
    for i, (text, color, w, shape) in enumerate(items):
        if w:  # a width of 0: an arrow with no box, from whatever the figure drew
            _box(ax, lefts[i] + w / 2, y, w, h, text, color, size)
        end = lefts[i] + w
        if i + 1 < len(items):
            _arrow(ax, (end, y), (lefts[i + 1], y))
            if shape:
                _shape(ax, end + gap / 2, label_y, shape)
    if out:
        shape, name = out
        _arrow(ax, (end, y), (end + gap, y))
        _shape(ax, end + gap / 2, label_y, shape)
        ax.text(end + gap / 2, y + 0.08, name, ha="center", va="bottom", fontsize=9)
        end += gap
    return end


def _shape(ax, x, y, text):
    ax.text(x, y, text, ha="center", va="top", fontsize=8.5, color=SHAPE)


def _plain_vit():
    """The ViT that chapters 1-4 build: patch stem, CLS token, default sizes."""
    from vit_core.model import ViTConfig

    return ViTConfig()


def pipeline():
    cfg = _plain_vit()
    n, d, p = cfg.num_patches, cfg.patch_size**2 * cfg.in_chans, cfg.patch_size
    fig, ax = _figure(11, 1.55)
    y = 0.75
    _grid(ax, 0.2, y - 0.4, 0.8, cfg.grid_size)
    ax.text(0.6, y + 0.47, "image", ha="center", fontsize=10)
    _chain(
        ax,
        y,
        [
            ("", "white", 0.0, f"(B,{cfg.in_chans},{cfg.img_size},{cfg.img_size})"),
            (f"patchify\n{p}x{p}", LINEAR, 0.8, f"(B,{n},{d})"),
            ("linear\nembed", LINEAR, 0.75, f"(B,{n},D)"),
            ("prepend CLS,\nadd position", DATA, 1.1, f"(B,{n + 1},D)"),
            ("L blocks", ATTN, 0.85, f"(B,{n + 1},D)"),
            ("LayerNorm,\nCLS row x[:, 0]", NORM, 1.15, "(B,D)"),
            ("head", OUT, 0.6, None),
        ],
        x0=1.05,
        gap=0.65,
        out=(f"(B,{cfg.num_classes})", "logits"),
        size=9.5,
    )
    return fig


def patchify():
    cfg = _plain_vit()
    g, p, c = cfg.grid_size, cfg.patch_size, cfg.in_chans
    n, size = cfg.num_patches, cfg.img_size
    fig, ax = _figure(8.2, 3.0)
    # The patch at grid row 1, column 1: the one chapter 1's code checks by hand, and
    # the first whose index shows that the order is row-major.
    pick = g + 1
    side = 2.4
    _grid(ax, 0.3, 0.3, side, g, highlight=divmod(pick, g))
    step = side / g
    for k in range(n):
        r, col = divmod(k, g)
        ax.text(
            0.3 + (col + 0.5) * step,
            0.3 + side - (r + 0.5) * step,
            str(k),
            ha="center",
            va="center",
            fontsize=6.5,
        )
    ax.text(
        1.5,
        2.8,
        f"{size}x{size} image: {g}x{g} patches of {p}x{p}",
        ha="center",
        fontsize=10,
    )
    _arrow(ax, (2.9, 1.5), (3.8, 1.5), "row-major", offset=(0, 0.05))
    shown = [0, 1, None, g, pick, None, n - 1]
    x = 4.0
    for k in shown:
        if k is None:
            ax.text(x + 0.2, 1.5, "...", ha="center", va="center", fontsize=14)
            x += 0.55
            continue
        fc = "#9ec5e8" if k == pick else DATA
        ax.add_patch(Rectangle((x, 0.6), 0.4, 1.8, fc=fc, ec=EDGE, lw=0.6))
        ax.text(x + 0.2, 0.45, str(k), ha="center", va="center", fontsize=8)
        x += 0.55
    mid = (4.0 + x - 0.15) / 2
    ax.text(
        mid,
        2.8,
        f"N = {n} vectors of C·P·P = {c}·{p}·{p} = {c * p * p} numbers",
        ha="center",
        fontsize=10,
    )
    _shape(ax, mid, 0.28, f"(B,{c},{size},{size}) -> (B,{n},{c * p * p})")
    return fig


def attention():
    fig, ax = _figure(11, 2.45)
    y, h, x0, gap, side = 1.4, 0.7, 0.75, 0.7, 0.45
    items = [
        ("q", DATA, 0.45, "(N,d)"),
        ("scores\nq·kᵀ/√d", ATTN, 1.25, "(N,N)"),
        ("softmax\nover each row", ATTN, 1.35, "(N,N)"),
        ("weights\neach row sums to 1", DATA, 1.65, "(N,N)"),
        ("weights @ v", ATTN, 1.3, None),
    ]
    _chain(ax, y, items, x0=x0, gap=gap, h=h, out=("(N,d)", "output"), size=9.5)
    # k and v come in from below, each into the one step that uses it, so that the
    # main row stays a single path from q to the output
    centres, left = {}, x0
    for text, _, w, _ in items:
        centres[text] = left + w / 2
        left += w + gap
    for name, joins in (("k", "scores\nq·kᵀ/√d"), ("v", "weights @ v")):
        cx = centres[joins]
        _box(ax, cx, 0.45, side, side, name, DATA)
        _arrow(
            ax, (cx, 0.45 + side / 2), (cx, y - h / 2), "(N,d)", offset=(0.27, -0.07)
        )
    ax.text(
        5.5,
        2.1,
        "scaled dot-product attention, one head: N tokens, queries and keys of width d",
        ha="center",
        fontsize=10,
    )
    return fig


def multihead():
    fig, ax = _figure(11, 1.75)
    y = 0.8
    _chain(
        ax,
        y,
        [
            ("x", DATA, 0.45, "(B,N,D)"),
            ("qkv\nlinear", LINEAR, 0.8, "(B,N,3D)"),
            ("reshape", DATA, 0.85, "(B,N,3,H,D/H)"),
            ("permute", DATA, 0.85, "(3,B,H,N,D/H)"),
            ("softmax(QKᵀ/√(D/H)) V\nweights (B,H,N,N)", ATTN, 1.95, "(B,H,N,D/H)"),
            ("merge\nheads", DATA, 0.8, "(B,N,D)"),
            ("proj", LINEAR, 0.6, None),
        ],
        gap=0.55,
        out=("(B,N,D)", "out"),
        size=9.5,
    )
    ax.text(
        5.5,
        1.45,
        "multi-head self-attention: H heads of width D/H, all cut "
        "from one D x 3D projection",
        ha="center",
        fontsize=10,
    )
    return fig


def block():
    ratio = _plain_vit().mlp_ratio
    fig, ax = _figure(11, 2.1)
    y, top = 0.85, 1.55
    # centre, half width, text, colour and font size of each box, left to right
    parts = {
        "x": (0.5, 0.3, "x", DATA, 10),
        "ln1": (1.75, 0.5, "LayerNorm\n(norm1)", NORM, 9),
        "mha": (3.1, 0.5, "MHA\n(attn)", ATTN, 9),
        "add1": (4.35, 0.2, "+", "white", 13),
        "ln2": (5.9, 0.5, "LayerNorm\n(norm2)", NORM, 9),
        "mlp": (7.6, 0.85, f"MLP (mlp)\nD → {ratio:g}D → D, GELU", MLP, 9),
        "add2": (9.35, 0.2, "+", "white", 13),
        "out": (10.45, 0.3, "out", DATA, 10),
    }
    for cx, half, text, color, size in parts.values():
        tall = 0.4 if half == 0.2 else 0.6
        _box(ax, cx, y, 2 * half, tall, text, color, size)
    order = list(parts)
    for a, b in zip(order, order[1:]):
        _arrow(ax, (parts[a][0] + parts[a][1], y), (parts[b][0] - parts[b][1], y))
    # Each residual leaves the stream on the arrow into its sub-layer's LayerNorm, so
    # that the stream itself is never normalised, and joins it again at its "+".
    for before, add in (("x", "add1"), ("add1", "add2")):
        after = order[order.index(before) + 1]
        branch = (
            parts[before][0] + parts[before][1] + parts[after][0] - parts[after][1]
        ) / 2
        join = parts[add][0]
        ax.plot([branch, branch, join], [y, top, top], color=EDGE, lw=1.2)
        ax.plot([branch], [y], "o", color=EDGE, ms=3.5)
        _arrow(ax, (join, top), (join, y + 0.2))
        ax.text(
            (branch + join) / 2,
            top + 0.06,
            "residual",
            ha="center",
            va="bottom",
            fontsize=9,
        )
    _shape(
        ax,
        5.5,
        0.3,
        "pre-norm: x + attn(norm1(x)), then x + mlp(norm2(x)); "
        "every arrow carries (B,N,D)",
    )
    return fig


def _count(module) -> int:
    return sum(_count_tensor(p) for p in module.parameters())


def _count_tensor(p) -> int:
    return p.numel() if p.requires_grad else 0


def vit_shapes_counts(name: str = "vit_laptop_plain") -> dict[str, int]:
    """Trainable parameters of each part of ``name``, as the figure labels them."""
    from vit_core.registry import create_model

    model = create_model(name)
    return {
        "patch embedding": _count(model.patch_embed),
        "blocks": _count(model.blocks),
        "one block": _count(model.blocks[0]),
        "position": _count_tensor(model.pos_embed),
        "final norm": _count(model.norm) + _count(model.fc_norm),
        "head": _count(model.head),
        "total": _count(model),
    }


def vit_shapes():
    from vit_core.model import ViTConfig
    from vit_core.registry import model_config

    cfg = ViTConfig(**model_config("vit_laptop_plain"))
    if (cfg.pool, cfg.pos_embed, cfg.stem) != ("avg", "sincos", "patch"):
        # the boxes below draw this layout; another needs another drawing
        raise ValueError(f"vit_shapes draws a mean-pooled sin-cos ViT, not {cfg}")
    counts = vit_shapes_counts()
    fig, ax = _figure(11, 1.9)
    d, n, y = cfg.embed_dim, cfg.num_patches, 0.8
    _chain(
        ax,
        y,
        [
            ("image", DATA, 0.65, f"(B,{cfg.in_chans},{cfg.img_size},{cfg.img_size})"),
            (
                f"patch embedding\n{counts['patch embedding']:,}",
                LINEAR,
                1.35,
                f"(B,{n},{d})",
            ),
            (
                f"+ sin-cos position\n{counts['position']:,} (fixed)",
                DATA,
                1.45,
                f"(B,{n},{d})",
            ),
            (f"{cfg.depth} blocks\n{counts['blocks']:,}", ATTN, 1.1, f"(B,{n},{d})"),
            (f"mean, LayerNorm\n{counts['final norm']:,}", NORM, 1.35, f"(B,{d})"),
            (f"head\n{counts['head']:,}", OUT, 0.75, None),
        ],
        gap=0.62,
        out=(f"(B,{cfg.num_classes})", "logits"),
        size=9.5,
    )
    ax.text(
        5.5,
        1.5,
        f"vit_laptop_plain (D = {d}, {cfg.num_heads} heads, MLP ratio "
        f"{cfg.mlp_ratio:g}, no CLS token): {counts['total']:,} trainable "
        f"parameters, {counts['one block']:,} a block",
        ha="center",
        fontsize=10,
    )
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
    ax.text(
        2.6,
        0.45,
        "Ā_l = rows-renormalised (0.5 A_l + 0.5 I)\nA_l: head-averaged "
        "attention of layer l",
        ha="center",
        fontsize=9,
    )
    _arrow(ax, (5.2, y), (6.0, y), "product")
    _grid(ax, 6.2, y - 0.4, 0.8, 5, ATTN, highlight=(0, 0))
    for c in range(5):
        ax.add_patch(
            Rectangle(
                (6.2 + c * 0.16, y + 0.24), 0.16, 0.16, fc="#9ec5e8", ec=EDGE, lw=0.4
            )
        )
    ax.text(6.6, y + 0.55, "R", ha="center", fontsize=11)
    ax.text(6.6, 0.75, "CLS row of R", ha="center", fontsize=9)
    _arrow(ax, (7.2, y), (8.3, y), "reshape 8x8", offset=(0, 0.05))
    _grid(ax, 8.5, y - 0.7, 1.4, 8, OUT)
    ax.text(9.2, 0.45, "map over patches", ha="center", fontsize=9)
    ax.text(
        5.5, 2.7, "attention rollout: R = Ā_L ... Ā_2 Ā_1", ha="center", fontsize=11
    )
    return fig


DIAGRAMS = {
    "pipeline": pipeline,
    "patchify": patchify,
    "attention": attention,
    "multihead": multihead,
    "block": block,
    "vit_shapes": vit_shapes,
    "rollout": rollout,
}


def cut_off(name: str) -> list[str]:
    """What of diagram ``name`` reaches past the edge of its canvas: a box, an arrow or
    a label the SVG would cut (the canvas clips them without a warning)."""
    fig = DIAGRAMS[name]()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox.padded(1)  # a pixel of slack for anti-aliased edges
    out = []
    for ax in fig.axes:
        for artist in [*ax.patches, *ax.texts, *ax.lines]:
            box = artist.get_window_extent(renderer)
            inside = canvas.x0 <= box.x0 and box.x1 <= canvas.x1
            if not (inside and canvas.y0 <= box.y0 and box.y1 <= canvas.y1):
                text = artist.get_text() if hasattr(artist, "get_text") else ""
                out.append(f"{type(artist).__name__} {text!r}".strip())
    plt.close(fig)
    return out


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
    stale, cut = [], []
    for name in DIAGRAMS:
        cut += [f"{name}: {what}" for what in cut_off(name)]
        path = FIGURES / f"{name}.svg"
        data = render(name)
        if check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(path.name)
        else:
            FIGURES.mkdir(exist_ok=True)
            path.write_bytes(data)
    if cut:
        print("cut off at the edge of the canvas:", "; ".join(cut))
    if stale:
        print("out of date (run python book/tools/diagrams.py):", ", ".join(stale))
    return 1 if stale or cut else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
