"""The excitation's learned mapping: pooled descriptor z -> pre-gate activations, C -> C.

``fc`` is the paper's two FC layers with reduction r (Eq. 3). The others are the variants
with which ECA-Net (Wang et al., "ECA-Net: Efficient Channel Attention for Deep
Convolutional Neural Networks", CVPR 2020, Table 2 and Sec. 3.1-3.2) dissects SE's
dimensionality reduction: ``none`` (SE-Var1, no parameters), ``channelwise`` (SE-Var2, one
weight per channel), ``fc1`` (SE-Var3, one C x C layer), and ``conv1d`` (ECA, a 1-D
convolution over neighbouring channels, kernel ``k`` or ECA's adaptive rule from C).

Each mapping takes z as (N, C), or as (N, C, H, W) when there is no squeeze (NoSqueeze,
Table 16 of the SE paper: the same layers applied at every position), and says in ``USES``
which of the ``SEConfig`` fields below it reads. A new mapping is a class here plus its
``MAPPINGS`` entry (and, if it needs a setting of its own, a field of ``SEConfig``);
``SEConfig.mapping`` names it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import SEConfig
from .registry import Registry

MAPPINGS: Registry[type[nn.Module]] = Registry("mapping")
# The SEConfig fields that only some mappings read.
MAPPING_FIELDS = ("reduction", "min_hidden", "kernel_size", "bias")


def _linear(cin: int, cout: int, bias: bool, spatial: bool) -> nn.Module:
    # Linear on the pooled vector rather than a 1x1 conv on (N, C, 1, 1): same weights and
    # arithmetic without the convolution machinery (measurably faster on CPU).
    return nn.Conv2d(cin, cout, 1, bias=bias) if spatial else nn.Linear(cin, cout, bias=bias)


class FC(nn.Module):
    """The paper's excitation (Eq. 3): W2 relu(W1 z), W1: C -> C/r, W2: C/r -> C."""

    USES = ("reduction", "min_hidden", "bias")

    def __init__(self, channels: int, cfg: SEConfig, spatial: bool) -> None:
        super().__init__()
        hidden = cfg.hidden(channels)
        self.fc1 = _linear(channels, hidden, cfg.bias, spatial)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = _linear(hidden, channels, cfg.bias, spatial)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(z)))


class Identity(nn.Module):
    """SE-Var1 (ECA-Net Table 2): the gate acts on the pooled descriptor itself."""

    USES = ()

    def __init__(self, channels: int, cfg: SEConfig, spatial: bool) -> None:
        super().__init__()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z


class Channelwise(nn.Module):
    """SE-Var2 (ECA-Net Table 2): each channel learns one weight (a diagonal W), with a bias
    per channel when ``bias``."""

    USES = ("bias",)

    def __init__(self, channels: int, cfg: SEConfig, spatial: bool) -> None:
        super().__init__()
        shape = (channels, 1, 1) if spatial else (channels,)
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape)) if cfg.bias else None

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.weight + self.bias if self.bias is not None else z * self.weight


class FC1(nn.Module):
    """SE-Var3 (ECA-Net Table 2): one FC layer C -> C, no dimensionality reduction."""

    USES = ("bias",)

    def __init__(self, channels: int, cfg: SEConfig, spatial: bool) -> None:
        super().__init__()
        self.fc = _linear(channels, channels, cfg.bias, spatial)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z)


def eca_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA-Net Eq. 12: the odd k nearest to |log2(C) / gamma + b / gamma|."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


class Conv1d(nn.Module):
    """ECA (ECA-Net Sec. 3.2, Fig. 2): one 1-D convolution of kernel k across neighbouring
    channels of z, zero padding at the ends; no bias in ECA-Net's code (``bias`` adds one)."""

    USES = ("kernel_size", "bias")

    def __init__(self, channels: int, cfg: SEConfig, spatial: bool) -> None:
        super().__init__()
        k = eca_kernel_size(channels) if cfg.kernel_size == "auto" else cfg.kernel_size
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=cfg.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            return self.conv(z[:, None, :])[:, 0, :]
        n, c, h, w = z.shape  # per position: channels become the sequence
        y = self.conv(z.permute(0, 2, 3, 1).reshape(-1, 1, c))
        return y.reshape(n, h, w, c).permute(0, 3, 1, 2)


MAPPINGS.add("fc", FC)
MAPPINGS.add("none", Identity)
MAPPINGS.add("channelwise", Channelwise)
MAPPINGS.add("fc1", FC1)
MAPPINGS.add("conv1d", Conv1d)


def check_mapping(cfg: SEConfig) -> None:
    """Refuse an unknown mapping, and a mapping-specific field set away from its default for
    a mapping that does not read it (a reduction ratio without the FC pair, a kernel size
    without ``conv1d``, biases where there are no parameters)."""
    uses = MAPPINGS.get(cfg.mapping).USES
    default = SEConfig()
    for name in MAPPING_FIELDS:
        value = getattr(cfg, name)
        if name not in uses and value != getattr(default, name):
            readers = [n for n in MAPPINGS.names() if name in MAPPINGS.get(n).USES]
            raise ValueError(f"model.se.{name} is {value!r} but model.se.mapping {cfg.mapping!r} has no use for it "
                             f"(only {', '.join(map(repr, readers))}); leave it out or change the mapping")
