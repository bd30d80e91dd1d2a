"""Frozen configuration of a model: the SE block and the backbone it sits in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Squeeze = Literal["avg", "max", "none"]
Gate = Literal["sigmoid", "tanh", "relu", "hard_sigmoid"]
Integration = Literal["standard", "pre", "post", "identity", "inner"]
# Fields added after the first release carry this metadata: they enter a configuration's
# identity (ablations' config_uid) only when they differ from their default, so that every
# configuration that existed before keeps its uid. Give every new field a default and it.
SINCE_0_2 = {"since": "0.2"}


@dataclass(frozen=True)
class SEConfig:
    """One SE block design (paper Sections 3 and 6).

    reduction: r, the hidden width is ``max(C // r, min_hidden)`` (Table 10).
    squeeze: ``avg`` | ``max`` global pooling (Table 11), or ``none`` (NoSqueeze, Table 16).
    gate: the excitation operator (Table 12: sigmoid, tanh, relu; hard_sigmoid, as
        MobileNetV3 gates its SE).
    stages: stage numbers that get SE (Table 13); ``all`` for every stage.
    integration: where the block sits in the residual unit (Tables 14 and 15).
    bias: biases on the two FC layers (off in the paper's ResNet ablations).
    min_hidden: floor on the hidden width, so narrow test models keep at least this many units.
    mapping: the excitation's learned mapping (``senet_core.mappings.MAPPINGS``): ``fc`` (the
        paper's two FC layers), or ECA-Net's ``none`` / ``channelwise`` / ``fc1`` / ``conv1d``.
    kernel_size: the ``conv1d`` mapping's kernel, or ``auto`` (ECA-Net's rule from C).
    module: the attention module in the slots: ``se`` (this block), one of timm's
        (``timm:cbam``, ``timm:eca``, ...; ``senet_core.timm_attention``), or a user's class
        by import path, ``package.module:Class`` (``senet_core.attention``).
    """

    reduction: int = 16
    squeeze: Squeeze = "avg"
    gate: Gate = "sigmoid"
    stages: tuple[int, ...] | Literal["all"] = "all"
    integration: Integration = "standard"
    bias: bool = False
    min_hidden: int = 1
    mapping: str = field(default="fc", metadata=SINCE_0_2)
    kernel_size: int | Literal["auto"] = field(default="auto", metadata=SINCE_0_2)
    module: str = field(default="se", metadata=SINCE_0_2)

    def __post_init__(self) -> None:
        if self.reduction < 1:
            raise ValueError(f"reduction must be a positive integer, got {self.reduction}")
        if self.min_hidden < 1:
            raise ValueError(f"min_hidden must be a positive integer, got {self.min_hidden}")
        if self.kernel_size != "auto" and (self.kernel_size < 1 or self.kernel_size % 2 == 0):
            raise ValueError(f"kernel_size must be 'auto' or a positive odd integer, got {self.kernel_size}")

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
    stem_pool: the ImageNet stem's max-pool: ``torchvision`` (kernel 3, stride 2, padding 1)
        or ``caffe``, the official SENet release's (no padding, ceil mode).
    """

    arch: str = "resnet50"
    num_classes: int = 1000
    width: float = 1.0
    stride_in_1x1: bool = True
    se: SEConfig | None = SEConfig()
    stem_pool: Literal["torchvision", "caffe"] = field(default="torchvision", metadata=SINCE_0_2)

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
