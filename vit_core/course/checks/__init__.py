"""Instant checks for the course's exercises: ``check_patchify(my_patchify)`` and
friends.

Each check runs your function and the reference implementation in :mod:`vit_core` on the
same random inputs, and then:

- prints ``check_x: correct!`` and returns ``True`` when they agree;
- prints ``check_x: not implemented yet`` and returns ``False`` when your function still
  raises ``NotImplementedError`` (so an unfinished notebook still runs top to bottom);
- raises :class:`CheckFailed` (an ``AssertionError``) with a message naming what is
  wrong otherwise: a wrong shape, rows that do not sum to 1, a forgotten scale, a
  swapped order, ...

The checks never change the global random state: they draw their inputs from their own
generator.

One module a chapter (``patches``, ``attention``, ``blocks``, ``vit``, ``recipe``,
``training``, ``maps``, ``where_next``, ``distill``) and the machinery they share
(``common``: the failure, the wrapper, the tensor helpers and the predict-then-check
reveals).
"""

from .attention import check_attention, check_softmax
from .blocks import check_block, check_multihead
from .common import CheckFailed

# the predict-then-check reveals: not checks of a student's function, so not in __all__
from .common import accuracy_noise as accuracy_noise
from .common import reveal as reveal
from .common import reveal_ladder as reveal_ladder
from .common import reveal_models as reveal_models
from .distill import check_hard_distillation, check_prefix_tokens
from .maps import (
    check_masked_image,
    check_mean_distance,
    check_rollout,
    check_sharpness_table,
)
from .patches import check_crop, check_normalize, check_patchify, check_sincos
from .recipe import check_label_smoothing, check_lr_schedule, check_mixup
from .training import check_confusion, check_fit, check_train_step
from .vit import check_param_count, check_vit_forward
from .where_next import check_patch_merging, check_window_partition

__all__ = [
    "CheckFailed",
    "check_normalize",
    "check_crop",
    "check_patchify",
    "check_sincos",
    "check_softmax",
    "check_attention",
    "check_multihead",
    "check_block",
    "check_param_count",
    "check_vit_forward",
    "check_lr_schedule",
    "check_mixup",
    "check_label_smoothing",
    "check_train_step",
    "check_fit",
    "check_confusion",
    "check_patch_merging",
    "check_window_partition",
    "check_rollout",
    "check_mean_distance",
    "check_sharpness_table",
    "check_masked_image",
    "check_prefix_tokens",
    "check_hard_distillation",
]
