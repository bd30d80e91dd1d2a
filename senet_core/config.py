"""Frozen configuration of a model: the SE block and the backbone it sits in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Squeeze = Literal["avg", "max", "none"]
Gate = Literal["sigmoid", "tanh", "relu"]
Integration = Literal["standard", "pre", "post", "identity", "inner"]


@dataclass(frozen=True)
class SEConfig:
    """One SE block design (paper Sections 3 and 6).

    reduction: r, the hidden width is ``max(C // r, min_hidden)`` (Table 10).
    squeeze: ``avg`` | ``max`` global pooling (Table 11), or ``none`` (NoSqueeze, Table 16).
    gate: the excitation operator (Table 12).
    stages: stage numbers that get SE (Table 13); ``all`` for every stage.
    integration: where the block sits in the residual unit (Tables 14 and 15).
    bias: biases on the two FC layers (off in the paper's ResNet ablations).
    min_hidden: floor on the hidden width, so narrow test models keep at least this many units.
    """

    reduction: int = 16
    squeeze: Squeeze = "avg"
    gate: Gate = "sigmoid"
    stages: tuple[int, ...] | Literal["all"] = "all"
    integration: Integration = "standard"
    bias: bool = False
    min_hidden: int = 1

    def __post_init__(self) -> None:
        if self.reduction < 1:
            raise ValueError(f"reduction must be a positive integer, got {self.reduction}")
        if self.min_hidden < 1:
            raise ValueError(f"min_hidden must be a positive integer, got {self.min_hidden}")

    def hidden(self, channels: int) -> int:
        return max(channels // self.reduction, self.min_hidden)

    def applies_to(self, stage: int) -> bool:
        return self.stages == "all" or stage in self.stages


@dataclass(frozen=True)
class ModelConfig:
    """A backbone from the architecture registry, optionally with SE blocks.

    arch: a name from ``senet_core.ARCHS`` (e.g. ``resnet50``, ``cifar_resnet50``).
    width: multiplier on every stage's width (1.0 is the published network).
    stride_in_1x1: put a downsampling bottleneck's stride on its first 1x1 conv, as the
        official SENet models do (3.86 GFLOPs for ResNet-50); false puts it on the 3x3
        conv as torchvision does (4.09 GFLOPs).
    se: the SE design, or ``None`` for the plain baseline (same code path).
    """

    arch: str = "resnet50"
    num_classes: int = 1000
    width: float = 1.0
    stride_in_1x1: bool = True
    se: SEConfig | None = SEConfig()

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
