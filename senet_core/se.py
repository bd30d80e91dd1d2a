"""The Squeeze-and-Excitation block: squeeze, learned mapping, gate, scale (paper Eq. 1-4)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .config import SEConfig
from .mappings import MAPPINGS
from .registry import Registry

GATES: Registry[type[nn.Module]] = Registry("gate")
GATES.add("sigmoid", nn.Sigmoid)
GATES.add("tanh", nn.Tanh)
GATES.add("relu", nn.ReLU)
GATES.add("hard_sigmoid", nn.Hardsigmoid)


class _GlobalAvgPool(torch.autograd.Function):
    """Spatial mean of (N, C, H, W) to (N, C) whose backward is a broadcast view.

    Autograd's ``mean`` backward writes a full (N, C, H, W) gradient and then adds it to
    the scaling's gradient of U; here the gradient stays (N, C, 1, 1) expanded, so that
    sum is a single pass over the feature map (that full-map write and add were among the
    largest items of SE's extra training time in a CPU profile).
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:
        ctx.shape = u.shape
        return u.mean((2, 3))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        n, c, h, w = ctx.shape
        return (grad * (1.0 / (h * w)))[:, :, None, None].expand(n, c, h, w)


def global_avg_pool(u: torch.Tensor) -> torch.Tensor:
    """``u.mean((2, 3))`` with a cheaper backward (see ``_GlobalAvgPool``)."""
    return _GlobalAvgPool.apply(u)


def global_max_pool(u: torch.Tensor) -> torch.Tensor:
    return u.amax((2, 3))


# The squeeze operator (Tables 11, 16): U (N, C, H, W) -> z; None keeps every position.
SQUEEZES: Registry[Callable[[torch.Tensor], torch.Tensor] | None] = Registry("squeeze")
SQUEEZES.add("avg", global_avg_pool)
SQUEEZES.add("max", global_max_pool)
SQUEEZES.add("none", None)


class SEBlock(nn.Module):
    """SE block on a tensor U with C channels (paper Eq. 2-4, Fig. 1).

    z = squeeze(U); s = gate(mapping(z)); output U * s. The paper's mapping is
    W2 relu(W1 z) with W1: C -> C/r, W2: C/r -> C (``mapping='fc'``); ECA-Net's variants are
    in :mod:`.mappings`. With ``squeeze='none'`` (NoSqueeze, Table 16) the mapping runs at
    every position (the FC layers become 1x1 convolutions of the same sizes), so the gate
    is a per-position map.

    Called with a second tensor (the shortcut), the block returns ``residual + U * s`` in
    one fused ``addcmul`` (``fuses_residual``): the standard integration (Fig. 2/3) scales
    the branch right before the residual sum, and fusing the two saves a pass over the
    feature map.
    """

    fuses_residual = True

    def __init__(self, channels: int, cfg: SEConfig) -> None:
        super().__init__()
        self.pool = SQUEEZES.get(cfg.squeeze)
        self.mapping = MAPPINGS.get(cfg.mapping)(channels, cfg, spatial=self.pool is None)
        self.gate = GATES.get(cfg.gate)()

    def excitation(self, u: torch.Tensor) -> torch.Tensor:
        """The gate s: (N, C, 1, 1) after pooling, (N, C, H, W) with ``squeeze='none'``."""
        if self.pool is None:
            return self.gate(self.mapping(u))
        return self.gate(self.mapping(self.pool(u)))[:, :, None, None]

    def forward(self, u: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if residual is None:
            return u * self.excitation(u)
        return torch.addcmul(residual, u, self.excitation(u))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the mapping became its own module hold fc1/fc2 here.
        for layer in ("fc1", "fc2"):
            for key in [k for k in state_dict if k.startswith(f"{prefix}{layer}.")]:
                state_dict[f"{prefix}mapping.{key[len(prefix):]}"] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
