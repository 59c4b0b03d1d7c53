"""The attention explorer: a live widget (anywidget) and the data format it shares with
the static book page.

One image's attention is precomputed once (:func:`encode_image`) into a record of uint8
maps; after that every choice (layer, head, query patch, mode, opacity) is a lookup done
by ``static/explorer.js`` in the browser, with no round trip to Python. The same record
format and the same script drive the offline explorer that
:mod:`vit_core.export_explorer` writes for the book.

Record of one image (JSON-able; arrays are uint8, C-ordered, zlib-compressed then
base64-encoded, which keeps the book's page small; G = grid size, N = G*G patches):

- ``pixels``: (32, 32, 3) RGB; ``label``: true class or None; ``probs``: C class
  probabilities;
- ``attn``: (L, H+1, 1+N, N) raw attention. Head H is the mean of the heads. Row 0 is
  the pooled row (CLS query, or the mean over queries for avg-pool models), row 1+q the
  patch query q; keys are patches;
- ``rollout``: (L, 1+N, N) attention rollout up to each layer, rows as in ``attn`` (each
  query's weight on itself clipped, see :func:`clip_self`);
- ``class``: (C, L, N) pooled row of the gradient-weighted rollout up to each layer, for
  every class.

Each map of N values is min-max scaled to 0..255 on its own: the page shows where
attention goes, not how much.
"""

from __future__ import annotations

import base64
import time
import zlib
from pathlib import Path

import anywidget
import numpy as np
import torch
import traitlets

from .attention import attention_maps, class_rollout, pooled, require_vit, rollout
from .data import CLASSES

STATIC = Path(__file__).resolve().parent / "static"
MODES = ("raw", "rollout", "class")


def pack(a: np.ndarray | torch.Tensor) -> str:
    """uint8 array -> base64 of its zlib-compressed bytes (the page undoes it with
    DecompressionStream)."""
    return base64.b64encode(
        zlib.compress(np.ascontiguousarray(a, dtype=np.uint8).tobytes(), 9)
    ).decode("ascii")


def unpack(s: str) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=np.uint8)


def quantize(maps: torch.Tensor) -> np.ndarray:
    """(..., N) float -> (..., N) uint8, each map min-max scaled to 0..255."""
    lo, hi = maps.amin(dim=-1, keepdim=True), maps.amax(dim=-1, keepdim=True)
    return (
        ((maps - lo) / (hi - lo).clamp(min=1e-12) * 255).round().to(torch.uint8).numpy()
    )


def query_rows(mat: torch.Tensor, num_prefix: int) -> torch.Tensor:
    """(..., T, T) -> (..., 1+N, N): the pooled row, then the row of every patch query;
    patch keys only."""
    return torch.cat(
        [pooled(mat, num_prefix).unsqueeze(-2), mat[..., num_prefix:, num_prefix:]],
        dim=-2,
    )


def clip_self(rows: torch.Tensor) -> torch.Tensor:
    """(..., 1+N, N) query rows: clip each patch query's weight on itself to its largest
    other weight.

    Through the residual connections a token's rollout is dominated by the token itself;
    clipped, the map shows where else it draws from (its own patch is drawn as bright as
    the brightest other one).
    """
    own = torch.eye(rows.shape[-1], dtype=torch.bool)  # (N, N)
    patches = rows[..., 1:, :]  # (..., N, N)
    others = patches.masked_fill(own, float("-inf")).amax(dim=-1, keepdim=True)
    patches = torch.where(own, torch.minimum(patches, others), patches)
    return torch.cat([rows[..., :1, :], patches], dim=-2)


def model_meta(model, classes=CLASSES) -> dict:
    require_vit(model)
    cfg = model.cfg
    return {
        "classes": list(classes),
        "grid": cfg.grid_size,
        "patch": cfg.patch_size,
        "img": cfg.img_size,
        "layers": cfg.depth,
        "heads": cfg.num_heads,
        "pool": cfg.pool,
    }


def encode_image(model, image: torch.Tensor, label: int | None = None) -> dict:
    """The record of one uint8 image (3, H, W): every map the explorer can show (see the
    module doc)."""
    x = image.unsqueeze(0)  # (1, 3, H, W)
    logits, attn = attention_maps(model, x)  # (1, C), (1, L, H, T, T)
    P = model.num_prefix_tokens
    # (L, H+1, T, T)
    heads = torch.cat([attn, attn.mean(dim=2, keepdim=True)], dim=2)[0]
    rolled = rollout(attn, num_prefix=P, cumulative=True)[0]  # (L, T, T)
    C = logits.shape[1]
    # (C, L, T, T)
    relevance = class_rollout(
        model, x.expand(C, -1, -1, -1), torch.arange(C), cumulative=True
    )
    return {
        "label": None if label is None else int(label),
        "pixels": pack(image.permute(1, 2, 0)),  # (H, W, 3)
        "probs": [round(p, 4) for p in logits.softmax(dim=1)[0].tolist()],
        "attn": pack(quantize(query_rows(heads, P))),
        "rollout": pack(quantize(clip_self(query_rows(rolled, P)))),
        "class": pack(quantize(pooled(relevance, P))),
    }


def select_map(
    record: dict, meta: dict, mode: str, layer: int, head: int, query: int, target: int
) -> np.ndarray:
    """The (G, G) map in [0, 1] that the page shows: the same rule as ``selectMap`` in
    explorer.js.

    ``head`` -1 is the mean of the heads, ``query`` -1 the pooled row, ``target`` -1 the
    predicted class. Rollout ignores ``head``; the class-specific map ignores ``head``
    and ``query``.
    """
    L, H, G = meta["layers"], meta["heads"], meta["grid"]
    N = G * G
    if mode == "raw":
        m = unpack(record["attn"]).reshape(L, H + 1, 1 + N, N)[
            layer, H if head < 0 else head, query + 1
        ]
    elif mode == "rollout":
        m = unpack(record["rollout"]).reshape(L, 1 + N, N)[layer, query + 1]
    else:
        t = int(np.argmax(record["probs"])) if target < 0 else target
        m = unpack(record["class"]).reshape(len(meta["classes"]), L, N)[t, layer]
    return m.reshape(G, G) / 255.0


def to_uint8_image(image, size: int) -> torch.Tensor:
    """A PIL image, or an array/tensor (H, W, 3) or (3, H, W), uint8 or float in [0, 1]
    -> uint8 (3, size, size)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        a = np.asarray(
            image.detach().cpu() if isinstance(image, torch.Tensor) else image
        )
        if a.ndim != 3 or 3 not in (a.shape[0], a.shape[-1]):
            raise ValueError(
                f"expected an RGB image (H, W, 3) or (3, H, W), got shape {a.shape}"
            )
        if a.shape[-1] != 3:
            a = a.transpose(1, 2, 0)
        if a.dtype != np.uint8:
            a = (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
        image = Image.fromarray(a)
    image = image.convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.BICUBIC)
    # (3, size, size)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


class AttentionExplorer(anywidget.AnyWidget):
    """Explore a ViT's attention: ``AttentionExplorer(model, images, labels)``, then
    display it.

    ``images``: uint8 (B, 3, H, W), or a list of PIL images / arrays. Drive it from
    Python by setting ``image_index``, ``layer``, ``head`` (-1: mean of heads),
    ``query`` (-1: pooled row, else a patch index, row by row), ``mode`` ("raw",
    "rollout", "class"), ``target`` (-1: the predicted class) and ``opacity``;
    :meth:`current_map` returns the map on show.
    """

    _esm = (
        STATIC / "explorer.js"
    ).read_text() + "\nexport default { render: VitExplorer.render };\n"
    _css = (STATIC / "explorer.css").read_text()

    meta = traitlets.Dict().tag(sync=True)
    gallery = traitlets.List().tag(sync=True)  # [{"pixels", "label"}] of every image
    record = traitlets.Dict().tag(sync=True)  # the current image's record
    image_index = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(-1).tag(sync=True)
    query = traitlets.Int(-1).tag(sync=True)
    mode = traitlets.Enum(MODES, default_value="raw").tag(sync=True)
    target = traitlets.Int(-1).tag(sync=True)
    opacity = traitlets.Float(0.6).tag(sync=True)

    def __init__(self, model, images, labels=None, classes=CLASSES, **kwargs):
        self.model = model.eval()
        self.images, self.labels, self._records = [], [], {}
        self.compute_seconds = {}  # image index -> seconds its precomputation took
        super().__init__(
            meta=model_meta(model, classes), layer=model.cfg.depth - 1, **kwargs
        )
        for i, image in enumerate(images):
            self.add_image(
                image, None if labels is None else int(labels[i]), select=False
            )
        self._show(self.image_index)

    def add_image(self, image, label: int | None = None, select: bool = True) -> int:
        """Add a PIL image or array to the gallery (and show it); returns its index."""
        x = to_uint8_image(image, self.model.cfg.img_size)
        self.images.append(x)
        self.labels.append(label)
        self.gallery = self.gallery + [
            {"pixels": pack(x.permute(1, 2, 0)), "label": label}
        ]
        if select:
            self.image_index = len(self.images) - 1
        return len(self.images) - 1

    @traitlets.validate("image_index", "layer", "head", "query", "target")
    def _check_range(self, proposal):
        name, v = proposal["trait"].name, proposal["value"]
        top = {
            "image_index": len(self.images) - 1,
            "layer": self.meta["layers"] - 1,
            "head": self.meta["heads"] - 1,
            "query": self.meta["grid"] ** 2 - 1,
            "target": len(self.meta["classes"]) - 1,
        }[name]
        low = 0 if name in ("image_index", "layer") else -1
        if not low <= v <= top:
            raise traitlets.TraitError(f"{name} must lie in {low}..{top}, got {v}")
        return v

    @traitlets.observe("image_index")
    def _on_image(self, change):
        self._show(change["new"])

    def _show(self, i: int) -> None:
        if i not in self._records:
            t0 = time.perf_counter()
            self._records[i] = encode_image(self.model, self.images[i], self.labels[i])
            self.compute_seconds[i] = time.perf_counter() - t0
        self.record = self._records[i]

    def current_map(self) -> np.ndarray:
        """The (G, G) map on show, in [0, 1]."""
        return select_map(
            self.record,
            self.meta,
            self.mode,
            self.layer,
            self.head,
            self.query,
            self.target,
        )

    def top5(self) -> list[tuple[str, float]]:
        probs = self.record["probs"]
        order = np.argsort(probs)[::-1][:5]
        return [(self.meta["classes"][i], probs[i]) for i in order]
