"""The reference solutions of notebook 08's exercises (the attention explorer), in the
form of :mod:`vit_core.course.reference`: each is the code of its solution dropdown, and
the notebook goes on with it until the learner's own function passes its check."""

from __future__ import annotations

import numpy as np


def sharpness_table(explorer, query=27):
    explorer.mode, explorer.query = "raw", query
    table = np.zeros((explorer.meta["layers"], explorer.meta["heads"]), dtype=int)
    for layer in range(table.shape[0]):
        for head in range(table.shape[1]):
            explorer.layer, explorer.head = layer, head
            table[layer, head] = (explorer.current_map() > 0.5).sum()
    return table


def masked_image(image, grid_map, patches):
    out, g = image.clone(), grid_map.shape[0]
    s = image.shape[-1] // g  # pixels per patch
    for p in patches:
        r, c = divmod(int(p), g)
        out[:, r * s : (r + 1) * s, c * s : (c + 1) * s] = 128
    return out
