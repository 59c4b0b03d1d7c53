"""Carry the learner's code forward, within a notebook and into the later ones.

``patchify = use(my_patchify, check_patchify)`` runs the check and returns the
learner's function when it passes, the course's own solution of that exercise (from
:mod:`vit_core.course.reference`, found by :data:`STAND_INS`) when it does not, and says
which, without naming where the solution lives: a student should not be one ``??``
away from it. So a notebook runs
top to bottom whatever the state of its exercises, and what follows is built on the
learner's code as soon as it is right.

The parts of the ViT are also needed by later notebooks, which run in a new kernel. When
the check of one of them passes, :func:`use` saves its source to ``my_code/NAME.py``
beside the notebook (``$VIT_CORE_MY_CODE`` names another folder), and removes that file
when it does not pass, so the folder always holds the code that last passed.
:func:`earlier` reads them back in a later notebook, checks them again, and falls back
to the reference part by part.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import linecache
import math
import os
import re
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import data, model, registry
from . import checks, explorer_reference, reference

__all__ = ["use", "earlier", "my_vit", "my_code_folder"]

# The parts the later notebooks rebuild the ViT from, each after the parts it calls, and
# the schedule that notebook 6's own training loop follows.
CARRIED = {
    "patchify": checks.check_patchify,
    "sincos": checks.check_sincos,
    "softmax": checks.check_softmax,
    "attention": checks.check_attention,
    "MultiHeadAttention": checks.check_multihead,
    "TransformerBlock": checks.check_block,
    "lr_schedule": checks.check_lr_schedule,
}


# The solution that stands in for the learner's code while its check fails.
STAND_INS = {
    checks.check_normalize: reference.normalize,
    checks.check_crop: reference.crop_at,
    checks.check_patchify: reference.patchify,
    checks.check_sincos: reference.sincos,
    checks.check_softmax: reference.softmax,
    checks.check_attention: reference.attention,
    checks.check_multihead: reference.MultiHeadAttention,
    checks.check_block: reference.TransformerBlock,
    checks.check_vit_forward: reference.vit_forward,
    checks.check_param_count: reference.param_count,
    checks.check_lr_schedule: reference.lr_schedule,
    checks.check_label_smoothing: reference.smooth,
    checks.check_mixup: reference.mixup,
    checks.check_train_step: reference.train_step,
    checks.check_confusion: reference.confusion,
    checks.check_fit: reference.fit,
    checks.check_rollout: reference.rollout,
    checks.check_mean_distance: reference.mean_distance,
    checks.check_window_partition: reference.window_partition,
    checks.check_patch_merging: reference.patch_merge,
    checks.check_sharpness_table: explorer_reference.sharpness_table,
    checks.check_masked_image: explorer_reference.masked_image,
    checks.check_prefix_tokens: reference.prefix_tokens,
    checks.check_hard_distillation: reference.hard_distillation,
}


def my_code_folder() -> Path:
    return Path(os.environ.get("VIT_CORE_MY_CODE", "my_code"))


def use(mine, check):
    """``mine`` if ``check(mine)`` passes, else the course's solution
    (:data:`STAND_INS`); prints which one goes on."""
    ref = STAND_INS[check]
    name, yours, state = ref.__name__, mine.__name__, "not done yet"
    try:
        passed = check(mine)
    except checks.CheckFailed as e:
        # the message says what is wrong; a traceback would only hide it
        print(f"{e}")
        passed, state = False, "not right yet"
    if passed:
        print(f"-> from here on, {name} is your {yours}.")
        if name in CARRIED:
            _save(name, mine)
        return mine
    print(f"-> {yours} is {state}: the notebook goes on with the course's {name}.")
    (my_code_folder() / f"{name}.py").unlink(missing_ok=True)
    return ref


def _source(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        # Before Python 3.13, inspect cannot find a class defined in a notebook cell:
        # find the cell through one of its methods.
        code = next(f.__code__ for f in vars(obj).values() if hasattr(f, "__code__"))
        lines = linecache.getlines(code.co_filename)
        pattern = re.compile(rf"class\s+{obj.__name__}\b")
        start = next(i for i, line in enumerate(lines) if pattern.match(line))
        return "".join(inspect.getblock(lines[start:]))


def _save(name: str, mine) -> None:
    folder = my_code_folder()
    # a source that cannot be read or a folder that cannot be written only costs the
    # later notebooks the learner's version: they go on with the reference
    try:
        source = _source(mine)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(
            f"# Your {mine.__name__}, saved when its check passed.\n"
            f"{source}\n{name} = {mine.__name__}\n",
            encoding="utf8",
        )
    except (OSError, TypeError, StopIteration) as e:
        print(
            f"   (not saved for later notebooks, which use the reference {name}: {e})"
        )


def _namespace() -> tuple[dict, dict[str, str]]:
    """The carried parts, the learner's where a saved one passes its check again."""
    space = {"__name__": "my_code", "math": math, "torch": torch, "nn": nn, "F": F}
    space.update(data=data, LN_EPS=model.LN_EPS, Mlp=model.Mlp, DropPath=model.DropPath)
    origin = {}
    for name, check in CARRIED.items():
        space[name] = getattr(reference, name)
        path = my_code_folder() / f"{name}.py"
        origin[name] = f"the reference (your code goes to {path} once its check passes)"
        if not path.is_file():
            continue
        # whatever the saved code does, the reference takes its place
        try:
            exec(compile(path.read_text(encoding="utf8"), str(path), "exec"), space)
            with contextlib.redirect_stdout(io.StringIO()):
                passed = check(space[name])
        except Exception as e:
            passed, why = False, f"{type(e).__name__}: {e}"
        else:
            why = "it no longer passes its check"
        if passed:
            origin[name] = f"yours, {space[name].__name__} from {path}"
        else:
            space[name] = getattr(reference, name)
            origin[name] = f"the reference (yours in {path} fails: {why})"
    return space, origin


def earlier(*names: str):
    """The learner's parts from earlier notebooks (see :data:`CARRIED`), or the
    references where there is none that passes; prints which. One object for one name,
    else a tuple."""
    space, origin = _namespace()
    for name in names:
        print(f"{name}: {origin[name]}")
    parts = tuple(space[name] for name in names)
    return parts[0] if len(parts) == 1 else parts


def my_vit(name: str = "vit_laptop_cls") -> nn.Module:
    """``vit_core``'s model ``name`` with the learner's blocks in place of its own (and
    in them the learner's multi-head attention, attention and softmax, where each
    passed), starting from the same weights: training it trains the learner's code."""
    ours = registry.create_model(name)
    parts = ("softmax", "attention", "MultiHeadAttention", "TransformerBlock")
    *_, block = earlier(*parts)
    cfg = ours.cfg
    blocks = nn.ModuleList(
        block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio) for _ in range(cfg.depth)
    )
    blocks.load_state_dict(ours.blocks.state_dict())
    ours.blocks = blocks
    return ours
