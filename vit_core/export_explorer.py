"""Write the offline attention explorer for the book: ``python -m
vit_core.export_explorer --out DIR``.

DIR gets ``explorer_data.js`` (precomputed uint8 attention of test images, as the global
``VIT_EXPLORER_DATA``; a script, because browsers may block fetching local files),
``explorer.js`` and ``explorer.css`` (the live widget's own front end) and
``index.html``, a standalone page. The page needs no kernel and no network. The images
come from the data set at build time; they are never committed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .errors import VitCoreError
from .explorer import STATIC, encode_image, model_meta

DATA_FILE = "explorer_data.js"
# A standalone page (DIR/index.html) that mounts the explorer the way book/explorer.md
# does.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ViT attention explorer</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="explorer.css"></head>
<body><div id="vit-explorer"></div>
<script src="explorer_data.js"></script>
<script src="explorer.js"></script>
<script>
VitExplorer.mount(document.getElementById("vit-explorer"), window.VIT_EXPLORER_DATA);
</script>
</body></html>
"""


def export(out, model, images, labels, checkpoint_name: str = "") -> Path:
    """Write the explorer's data and front end into ``out`` for uint8 images (B, 3, H,
    W); returns the data file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": {**model_meta(model), "checkpoint": checkpoint_name},
        "images": [encode_image(model, x, int(y)) for x, y in zip(images, labels)],
    }
    path = out / DATA_FILE
    path.write_text(
        "window.VIT_EXPLORER_DATA = " + json.dumps(data, separators=(",", ":")) + ";\n"
    )
    for name in ("explorer.js", "explorer.css"):
        shutil.copyfile(STATIC / name, out / name)
    (out / "index.html").write_text(PAGE)
    return path


def main(argv=None) -> None:
    from .checkpoint import load_checkpoint
    from .data import gallery_indices, load_cifar10
    from .pretrained import add_checkpoint_flag, resolve_checkpoint

    p = argparse.ArgumentParser(
        prog="python -m vit_core.export_explorer", description=__doc__.splitlines()[0]
    )
    p.add_argument(
        "--out",
        required=True,
        help="folder to write explorer_data.js, explorer.js and explorer.css",
    )
    add_checkpoint_flag(p)
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding cifar-10-batches-py/ (default: $VIT_CORE_DATA)",
    )
    p.add_argument("--num-images", type=int, default=24)
    args = p.parse_args(argv)
    try:
        checkpoint = resolve_checkpoint(args.checkpoint)
        model, card = load_checkpoint(checkpoint)
        images, labels = load_cifar10(args.data_dir, train=False)
        idx = gallery_indices(labels, args.num_images)
        path = export(
            args.out,
            model,
            images[idx],
            labels[idx],
            card.get("name", Path(checkpoint).stem),
        )
    except VitCoreError as e:
        sys.exit(f"error: {e}")
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB, {len(idx)} images) and the "
        "explorer's script"
    )


if __name__ == "__main__":
    main()
