"""The Squeeze-and-Excitation block and its squeeze and excitation operators."""

from __future__ import annotations

import torch
from torch import nn

from .config import SEConfig
from .registry import Registry

GATES: Registry[type[nn.Module]] = Registry("gate")
GATES.add("sigmoid", nn.Sigmoid)
GATES.add("tanh", nn.Tanh)
GATES.add("relu", nn.ReLU)

SQUEEZES: Registry[str] = Registry("squeeze")
for _name in ("avg", "max", "none"):
    SQUEEZES.add(_name, _name)


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


class SEBlock(nn.Module):
    """SE block on a tensor U with C channels (paper Eq. 2-4, Fig. 1).

    z = squeeze(U); s = gate(W2 relu(W1 z)); output U * s, with W1: C -> C/r and
    W2: C/r -> C. With pooling the FC layers are ``nn.Linear`` on the pooled vector; with
    ``squeeze='none'`` (NoSqueeze, Table 16) they are 1x1 convolutions of the same sizes,
    applied at every position, so the gate becomes a per-position map.

    Called with a second tensor (the shortcut), the block returns ``residual + U * s`` in
    one fused ``addcmul``: the standard integration (Fig. 2/3) scales the branch right
    before the residual sum, and fusing the two saves a pass over the feature map.
    """

    def __init__(self, channels: int, cfg: SEConfig) -> None:
        super().__init__()
        SQUEEZES.get(cfg.squeeze)
        self.squeeze = cfg.squeeze
        hidden = cfg.hidden(channels)
        if cfg.squeeze == "none":
            self.fc1 = nn.Conv2d(channels, hidden, 1, bias=cfg.bias)
            self.fc2 = nn.Conv2d(hidden, channels, 1, bias=cfg.bias)
        else:
            # Linear rather than 1x1 conv on an (N, C, 1, 1) tensor: same weights and
            # arithmetic, without the convolution machinery (measurably faster on CPU).
            self.fc1 = nn.Linear(channels, hidden, bias=cfg.bias)
            self.fc2 = nn.Linear(hidden, channels, bias=cfg.bias)
        self.act = nn.ReLU(inplace=True)
        self.gate = GATES.get(cfg.gate)()

    def excitation(self, u: torch.Tensor) -> torch.Tensor:
        """The gate s: (N, C, 1, 1) after pooling, (N, C, H, W) with ``squeeze='none'``."""
        if self.squeeze == "none":
            return self.gate(self.fc2(self.act(self.fc1(u))))
        z = global_avg_pool(u) if self.squeeze == "avg" else u.amax((2, 3))
        return self.gate(self.fc2(self.act(self.fc1(z))))[:, :, None, None]

    def forward(self, u: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if residual is None:
            return u * self.excitation(u)
        return torch.addcmul(residual, u, self.excitation(u))
