"""The optimizers a run can use: AdamW, SGD, and Muon for the blocks' matrices.

Muon (Jordan et al. 2024, used in the nanoGPT and airbench speedruns) orthogonalizes the
momentum of each 2-D weight with a few Newton-Schulz steps. It is meant for the hidden
matrices only: here the attention and MLP weights of the blocks. The tokenizer, the
head, norms, biases and embeddings stay with AdamW, as in those speedruns.
"""

from __future__ import annotations

import torch


class Combined:
    """Several optimizers that step as one: the trainer sets ``lr`` on every group,
    saves one state dict and loads it back."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers for g in o.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("optimizers", [])
        if len(saved) != len(self.optimizers):
            raise ValueError(
                f"the saved optimizer state holds {len(saved)} optimizer(s), this run "
                f"uses {len(self.optimizers)}"
            )
        for o, s in zip(self.optimizers, saved):
            o.load_state_dict(s)


def orthogonalize(g: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Newton-Schulz iteration towards the nearest semi-orthogonal matrix (Jordan et
    al.'s quintic coefficients), for a matrix or a stack of same-shape ones
    (..., A, B). In fp32: a CPU without bf16 units (AVX2) runs bf16 products about 20
    times slower."""
    a, b, c = 3.4445, -4.7750, 2.0315
    tall = g.shape[-2] > g.shape[-1]
    x = g.mT if tall else g  # the Gram matrix on the shorter side is the cheaper one
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=1e-7)
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


class Muon(torch.optim.Optimizer):
    """Muon on 2-D weights: Nesterov momentum, orthogonalized, scaled to AdamW's update
    size (0.2 * sqrt(max(A, B)), Liu et al. 2025) so that AdamW's lr and decoupled
    weight decay carry over. torch.optim.Muon does the same in bf16 only."""

    def __init__(self, params, lr: float, weight_decay: float, momentum=0.95):
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            same_shape: dict[torch.Size, list] = {}
            for p in group["params"]:
                if p.grad is not None:
                    same_shape.setdefault(p.shape, []).append(p)
            # one stacked Newton-Schulz per shape: a block's matrices are small, so
            # one product per loop saves the per-call cost (vit_core.bench muon)
            for params in same_shape.values():
                updates = orthogonalize(
                    torch.stack([self.nesterov(p, mu) for p in params])
                )
                scale = -lr * 0.2 * max(params[0].shape) ** 0.5
                for p, update in zip(params, updates):
                    p.mul_(1 - lr * group["weight_decay"])
                    p.add_(update, alpha=scale)

    def nesterov(self, p: torch.Tensor, mu: float) -> torch.Tensor:
        state = self.state[p]
        if not state:
            state["momentum"] = torch.zeros_like(p)
        buf = state["momentum"].mul_(mu).add_(p.grad)
        return p.grad.add(buf, alpha=mu)


def is_hidden_matrix(name: str, p: torch.Tensor) -> bool:
    return p.ndim == 2 and name.startswith("blocks.")


def build_optimizer(model: torch.nn.Module, cfg, device: torch.device):
    """No weight decay on norms, biases, the CLS token or position embeddings.

    ``cfg`` needs only ``optimizer``, ``lr`` and ``weight_decay``. With Muon, one
    ``--lr`` and ``--weight-decay`` serve both parts (see :class:`Muon`)."""
    skip = model.no_weight_decay()
    muon = cfg.optimizer == "muon"
    decay, no_decay, hidden = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if muon and is_hidden_matrix(name, p):
            hidden.append(p)
        elif p.ndim <= 1 or name in skip:
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    adamw = torch.optim.AdamW(
        groups, lr=cfg.lr, betas=(0.9, 0.999), fused=device.type == "cuda"
    )
    if not muon:
        return adamw
    if not hidden:
        raise ValueError(f"--optimizer muon: {cfg.model} has no transformer blocks")
    return Combined(
        Muon(hidden, lr=cfg.lr, weight_decay=cfg.weight_decay),
        adamw,
    )
