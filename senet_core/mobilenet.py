"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR
2018, Table 2) with attention slots in its inverted residuals.

A unit is ``1x1 expand -> 3x3 depthwise -> 1x1 linear projection`` (the first group expands
by 1 and has no expand conv), with the input added back when the stride is 1 and the width
unchanged. Its slots: ``inner``, right after the depthwise convolution and its BN/ReLU6, on
the expanded channels, where MobileNetV3 (Howard et al., 2019) and Coordinate Attention (Hou
et al., 2021) place their attention; ``standard``, on the projection's output before the
residual sum, where the SE paper places SE in a residual unit (and ECA-Net's MobileNetV2 its
ECA); ``pre`` on the unit's input; ``post`` on its output. There is no ``identity`` slot:
most units have no shortcut. The seven bottleneck groups of Table 2 are stages 1 to 7.
Widths are rounded to multiples of 8 as torchvision rounds them, so width 1.0 is
torchvision's ``mobilenet_v2`` (3.50 M parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .backbone import Backbone
from .blocks import SlottedUnit, slot
from .config import Integration, ModelConfig, SEConfig

# Table 2: expansion t, output channels c, units n, first stride s.
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM, LAST = 32, 1280


def make_divisible(v: float, divisor: int = 8) -> int:
    """torchvision's rounding of a width: the nearest multiple of ``divisor``, not below 90% of ``v``."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6(inplace=True)) if act else nn.Sequential(*layers)


class InvertedResidual(SlottedUnit):
    """``post(x' + standard(project(inner(depthwise(expand(x'))))))``, ``x' = pre(x)``; the sum
    only when the stride is 1 and the width unchanged."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int, se: SEConfig | None) -> None:
        super().__init__()
        hidden = round(cin * expansion)
        self.residual = stride == 1 and cin == cout
        self.se_pre = slot(cin, se, "pre")
        self.branch = nn.Sequential(
            *([conv_bn(cin, hidden, 1)] if expansion != 1 else []),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            inner := slot(hidden, se, "inner"),
            conv_bn(hidden, cout, 1, act=False),
        )
        self.se_standard = slot(cout, se, "standard")
        self.se_post = slot(cout, se, "post")
        self._fused = self.residual and getattr(self.se_standard, "fuses_residual", False)
        self.place_attention(se, inner)

    def forward(self, x: Tensor) -> Tensor:
        x = self.se_pre(x)
        branch = self.branch(x)
        if self._fused:
            return self.se_post(self.se_standard(branch, x))
        out = self.se_standard(branch)
        return self.se_post(x + out if self.residual else out)


class MobileNetV2(Backbone):
    def __init__(self, spec: MobileNetSpec, cfg: ModelConfig) -> None:
        super().__init__()
        se = cfg.se
        cin = make_divisible(STEM * cfg.width)
        self.stem = conv_bn(3, cin, 3, spec.stem_stride)
        self.stage_numbers = spec.stage_numbers
        self.stages = nn.ModuleDict()
        for number, (t, c, n, s) in zip(self.stage_numbers, SETTINGS, strict=True):
            stage_se = se if se is not None and se.applies_to(number) else None
            cout = make_divisible(c * cfg.width)
            first = dict(spec.strides).get(number, s)
            units = []
            for j in range(n):
                units.append(InvertedResidual(cin, cout, first if j == 0 else 1, t, stage_se))
                cin = cout
            self.stages[f"stage{number}"] = nn.Sequential(*units)
        last = make_divisible(LAST * max(1.0, cfg.width))
        self.head = conv_bn(cin, last, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, cfg.num_classes))
        self.init_weights()
        # torchvision's classifier initialisation (the last module: the draw order is theirs)
        nn.init.normal_(self.classifier[1].weight, 0, 0.01)
        nn.init.zeros_(self.classifier[1].bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for stage in self.stages.values():
            x = stage(x)
        return self.classifier(torch.flatten(self.pool(self.head(x)), 1))


@dataclass(frozen=True)
class MobileNetSpec:
    """MobileNetV2 for an input size: the stem's stride, and (stage, stride) pairs that change
    a group's first stride (the CIFAR variant keeps 32 x 32 inputs from shrinking to 1 x 1)."""

    stem_stride: int = 2
    strides: tuple[tuple[int, int], ...] = ()

    @property
    def stage_numbers(self) -> tuple[int, ...]:
        return tuple(range(1, len(SETTINGS) + 1))

    @property
    def slots(self) -> tuple[Integration, ...]:
        return ("standard", "pre", "post", "inner")

    def build(self, cfg: ModelConfig) -> MobileNetV2:
        return MobileNetV2(self, cfg)
