"""What every backbone offers the rest of the project: stages numbered like the papers',
units that hold their attention module in a slot, and the integration slots they have."""

from __future__ import annotations

from typing import Protocol

from torch import nn

from .config import Integration, ModelConfig

ALL_SLOTS: tuple[Integration, ...] = ("standard", "pre", "post", "identity", "inner")


class Backbone(nn.Module):
    """A network of ``stages`` (``stage<N>``, N in ``stage_numbers``) whose units expose their
    attention module as ``unit.attention`` (None for a plain unit)."""

    stage_numbers: tuple[int, ...]
    stages: nn.ModuleDict

    def init_weights(self) -> None:
        """He-normal convolutions (fan-out), BN at identity: ResNet's and torchvision's."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def attention_blocks(self) -> dict[int, list[nn.Module]]:
        """The attention module of each unit, per stage number, in forward order (empty lists
        for plain stages), whatever class ``model.se.module`` built."""
        return {
            number: [a for unit in self.stages[f"stage{number}"] if (a := getattr(unit, "attention", None)) is not None]
            for number in self.stage_numbers
        }


class Arch(Protocol):
    """An entry of the arch registry: the stages and slots it has, and how to build it."""

    @property
    def stage_numbers(self) -> tuple[int, ...]: ...

    @property
    def slots(self) -> tuple[Integration, ...]: ...

    def build(self, cfg: ModelConfig) -> Backbone: ...
