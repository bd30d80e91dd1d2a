"""timm's attention layers in the attention slots: ``model.se.module: timm:<name>``.

timm (``timm.layers.get_attn``) maintains the modules that attention papers compare with SE:
ECA, CBAM, global context (GC), coordinate attention, and more. Here each is built for the
slot's channels with the SE factors passed on where the module has them, and nowhere else:

- ``reduction`` r -> ``rd_ratio = 1 / r`` with ``rd_divisor = 1``, so the hidden width is
  C / r as the factor says (timm's own default rounds it to a multiple of 8 for SE, so that
  on 64 channels r = 16 would give 8 units instead of 4);
- ``gate`` -> ``gate_layer``; ``bias`` -> the module's bias on its reduction layers;
- ``kernel_size`` (ECA, CECA) -> a fixed kernel; ``auto`` keeps timm's rule from C, which
  is ECA-Net's Eq. 12 floored at 3 (on ResNet-50: 5, 5, 5, 7).

A factor set away from its default that a module has no use for (``squeeze: max`` for CBAM,
which pools both ways as it is built; a ``reduction`` for ECA) is refused, naming the field.
Every value passed is passed always, defaults included, so a module is what its config says
(timm:se gets bias-free layers and r = 16, as the paper's SE; timm:gc gets r = 16, not timm's
8; timm:ese a sigmoid gate unless ``gate: hard_sigmoid``).
"""

from __future__ import annotations

from torch import nn

from .config import SEConfig

PREFIX = "timm:"
_R = ("reduction", "rd_ratio")
_G = ("gate", "gate_layer")
_B = ("bias", "bias")
_MLP_B = ("bias", "mlp_bias")
_K = ("kernel_size", "kernel_size")
# The lightweight modules of timm.layers.get_attn, which sit beside a block's convolutions
# (its other entries replace them), and the SE factors each takes: (field, timm keyword).
MODULES: dict[str, tuple[tuple[str, str], ...]] = {
    "se": (_R, _G, _B),
    "ese": (_G,),
    "eca": (_K, _G),
    "ecam": (_R, _G),
    "ceca": (_K, _G),
    "ge": (_R, _G),
    "gc": (_R, _G),
    "gca": (_R, _G),
    "cbam": (_R, _G, _MLP_B),
    "lcbam": (_R, _G, _MLP_B),
    "coord": (_R, _G, _B),
    "scoord": (_R, _G, _B),
    "ela": (_G, _B),
    "strip": (_G, _B),
}
# The SE block's own fields: what a timm module may take from the section.
FACTORS = ("reduction", "squeeze", "gate", "bias", "min_hidden", "mapping", "kernel_size")


class TimmFieldError(ValueError):
    """A factor set for a timm module that has no use for it; ``key`` names the field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def timm_name(module: str) -> str | None:
    """``cbam`` for ``timm:cbam``; None for any other module name."""
    return module[len(PREFIX):] if module.startswith(PREFIX) else None


def check_timm(cfg: SEConfig) -> None:
    """Refuse an unknown timm module, and a factor away from its default it has no use for."""
    name = timm_name(cfg.module)
    if name not in MODULES:
        raise ValueError(f"unknown timm attention module {name!r}; timm modules that sit beside a block's "
                         f"convolutions: {', '.join(PREFIX + n for n in MODULES)}")
    takes = {field for field, _ in MODULES[name]}
    default = SEConfig()
    for field in FACTORS:
        value = getattr(cfg, field)
        if field not in takes and value != getattr(default, field):
            uses = [PREFIX + n for n, keys in MODULES.items() if field in {f for f, _ in keys}]
            raise TimmFieldError(f"model.se.{field}", f"{value!r} has no meaning for {cfg.module}, which is built as "
                                 f"timm builds it; leave model.se.{field} out (timm modules that take it: "
                                 f"{', '.join(uses) or 'none'})")


def timm_keywords(name: str, cfg: SEConfig) -> dict[str, object]:
    """The keywords the factors become for timm's module ``name``."""
    out: dict[str, object] = {}
    for field, keyword in MODULES[name]:
        value = getattr(cfg, field)
        if field == "reduction":
            out.update(rd_ratio=1 / value, rd_divisor=1)
        elif field == "kernel_size":
            if value != "auto":
                out.update(kernel_size=value, channels=None)  # given channels, timm derives k from them
        else:
            out[keyword] = value
    return out


def create_timm(channels: int, cfg: SEConfig) -> nn.Module:
    """timm's module named by ``cfg.module`` for a tensor of ``channels`` channels."""
    from timm.layers import get_attn  # slow to import (2.3 s): only when a timm module is named

    check_timm(cfg)
    name = timm_name(cfg.module)
    return get_attn(name)(**{"channels": channels, **timm_keywords(name, cfg)})


__all__ = ["MODULES", "PREFIX", "TimmFieldError", "check_timm", "create_timm", "timm_keywords", "timm_name"]
