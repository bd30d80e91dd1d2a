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


class SEBlock(nn.Module):
    """SE block on a tensor U with C channels (paper Eq. 2-4, Fig. 1).

    z = squeeze(U); s = gate(W2 relu(W1 z)); output U * s, with W1: C -> C/r and
    W2: C/r -> C. With pooling the FC layers are ``nn.Linear`` on the pooled vector; with
    ``squeeze='none'`` (NoSqueeze, Table 16) they are 1x1 convolutions of the same sizes,
    applied at every position, so the gate becomes a per-position map.
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
        z = u.mean((2, 3)) if self.squeeze == "avg" else u.amax((2, 3))
        return self.gate(self.fc2(self.act(self.fc1(z))))[:, :, None, None]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.excitation(u)
