"""ResNet backbones (ImageNet, CIFAR-stem, CIFAR) with SE placed by stage and integration."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from .backbone import ALL_SLOTS, Backbone
from .blocks import basic_unit, bottleneck_unit, preact_bottleneck_unit
from .config import Integration, ModelConfig


@dataclass(frozen=True)
class ArchSpec:
    """A backbone family member: unit type, units per stage, planes per stage, stem."""

    unit: Literal["basic", "bottleneck", "preact"]
    depths: tuple[int, ...]
    planes: tuple[int, ...]
    stem: Literal["imagenet", "cifar"]
    first_stage: int
    groups: int = 1
    base_width: int = 64

    @property
    def stage_numbers(self) -> tuple[int, ...]:
        return tuple(range(self.first_stage, self.first_stage + len(self.depths)))

    @property
    def slots(self) -> tuple[Integration, ...]:
        return ALL_SLOTS

    def build(self, cfg: ModelConfig) -> ResNet:
        return ResNet(self, cfg)


IMAGENET_PLANES = (64, 128, 256, 512)
CIFAR_PLANES = (16, 32, 64)


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


class ResNet(Backbone):
    """A residual network whose stages are ``stage<N>`` with the paper's numbering.

    ImageNet-style backbones number their stages 2..5 (conv2_x..conv5_x); CIFAR ResNets
    1..3. SE goes into every unit of the stages ``cfg.se.stages`` names.
    """

    def __init__(self, spec: ArchSpec, cfg: ModelConfig) -> None:
        super().__init__()
        se = cfg.se
        stem_out = _scaled(spec.planes[0], cfg.width)
        if spec.unit == "preact":
            self.stem = nn.Conv2d(3, stem_out, 3, 1, 1, bias=False)
        elif spec.stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(3, stem_out, 3, 1, 1, bias=False),
                nn.BatchNorm2d(stem_out),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(3, stem_out, 7, 2, 3, bias=False),
                nn.BatchNorm2d(stem_out),
                nn.ReLU(inplace=True),
                # The official SENet (Caffe) release pools without padding, rounding up; both
                # give 56 x 56 at 224, but not the same function.
                nn.MaxPool2d(3, 2, ceil_mode=True) if cfg.stem_pool == "caffe" else nn.MaxPool2d(3, 2, 1),
            )
        unit = {
            "basic": basic_unit,
            "bottleneck": partial(
                bottleneck_unit,
                stride_in_1x1=cfg.stride_in_1x1,
                groups=spec.groups,
                base_width=spec.base_width,
            ),
            "preact": preact_bottleneck_unit,
        }[spec.unit]
        expansion = 1 if spec.unit == "basic" else 4
        self.stage_numbers = spec.stage_numbers
        self.stages = nn.ModuleDict()
        cin = stem_out
        for i, (number, depth, planes) in enumerate(
            zip(spec.stage_numbers, spec.depths, spec.planes, strict=True)
        ):
            stage_se = se if se is not None and se.applies_to(number) else None
            planes = _scaled(planes, cfg.width)
            units = []
            for j in range(depth):
                stride = 2 if (i > 0 and j == 0) else 1
                units.append(unit(cin, planes, stride, stage_se))
                cin = planes * expansion
            self.stages[f"stage{number}"] = nn.Sequential(*units)
        self.head_act = (
            nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True))
            if spec.unit == "preact"
            else nn.Identity()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, cfg.num_classes)
        self.init_weights()

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for stage in self.stages.values():
            x = stage(x)
        x = self.pool(self.head_act(x))
        return self.fc(torch.flatten(x, 1))
