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
