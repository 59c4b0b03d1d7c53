"""vit_core: the finished Vision Transformer of the "ViT from Scratch" course.

    from vit_core import create_model, load_pretrained

    model = create_model("vit_tiny")  # by name; ViTConfig fields override the preset
    model, card = load_pretrained()  # a shipped checkpoint and its card
    # vit_core.pretrained.choices() names every shipped checkpoint

Command-line tools: ``python -m vit_core.train``, ``.evaluate``, ``.visualize``,
``.bench``, ``.export_explorer``.
"""

from .checkpoint import load_checkpoint
from .pretrained import load_pretrained
from .registry import MODEL_NAMES, create_model

__version__ = "0.1.0"
__all__ = [
    "create_model",
    "load_checkpoint",
    "load_pretrained",
    "MODEL_NAMES",
    "__version__",
]
