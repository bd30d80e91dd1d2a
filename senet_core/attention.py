"""Attention modules as data: a name, one of timm's modules (``timm:cbam``, :mod:`.timm_attention`)
or a user's ``pkg.module:Class``, resolved to a factory that the units place in their
integration slots (timm's ``create_attn`` in spirit).

The interface every module meets, built-in or not:

- ``Class(channels: int, cfg: SEConfig)`` builds it for a tensor of ``channels`` channels;
  ``cfg`` is the whole ``model.se`` section, so a module reads what it needs from it;
- ``forward(u)`` returns a tensor of ``u``'s shape (N, C, H, W);
- optional ``gate``: a submodule whose output is the excitation s, (N, C) or (N, C, H, W);
  the Section 7 recorder hooks it (modules without one get no excitation statistics);
- optional ``fuses_residual = True``: ``forward(u, residual)`` returns ``residual + forward(u)``
  in one pass (the standard slot then calls it so).

Its cost needs no declaration: :func:`senet_core.structure.count_multiply_adds` counts the
convolutions and matrix products it runs and its pooling and scaling from the operators
themselves.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

import torch
from torch import nn

from .config import SEConfig
from .registry import Registry
from .se import SEBlock
from .timm_attention import PREFIX, TimmFieldError, check_timm, create_timm

Factory = Callable[[int, SEConfig], nn.Module]  # (channels, the model.se section) -> module
ATTENTION: Registry[Factory] = Registry("attention module")
ATTENTION.add("se", SEBlock)


class AttentionError(ValueError):
    """A module name or import path that does not resolve to a module fitting the interface;
    ``key`` names the field at fault (``model.se.module`` unless another)."""

    def __init__(self, message: str, key: str = "model.se.module") -> None:
        super().__init__(message)
        self.key = key


def resolve_attention(name: str) -> Factory:
    """A registered name, ``timm:<name>``, or ``pkg.module:Class`` importable from the Python
    path or the current directory."""
    if name.startswith(PREFIX):
        return create_timm
    if ":" not in name:
        try:
            return ATTENTION.get(name)
        except ValueError as err:
            raise AttentionError(f"{err}, a timm module ('timm:cbam', ...), or an import path "
                                 "'package.module:Class'") from None
    module_name, _, attr = name.partition(":")
    try:
        module = _import(module_name)
    except Exception as err:  # ImportError, or whatever the module raises while importing
        raise AttentionError(f"cannot import {module_name!r}: {type(err).__name__}: {err}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise AttentionError(f"module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise AttentionError(f"{name!r} is not a torch.nn.Module subclass")
    return cls


def _import(module_name: str):
    """Import from the Python path, else from the current directory (where a user's own file
    usually is; ``python run_sweep.py`` puts the project's folder on the path, not it)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        cwd = os.getcwd()
        if err.name != module_name.split(".")[0] or cwd in sys.path:
            raise
        sys.path.append(cwd)
        return importlib.import_module(module_name)


def create_attention(channels: int, cfg: SEConfig) -> nn.Module:
    return resolve_attention(cfg.module)(channels, cfg)


def check_attention(cfg: SEConfig, channels: int = 16) -> None:
    """Build ``cfg.module`` for a small tensor and run it once, so that a module that does not
    fit the interface is refused before any run starts (raises :class:`AttentionError`)."""
    factory = resolve_attention(cfg.module)
    if factory is create_timm:
        try:
            check_timm(cfg)
        except TimmFieldError as err:
            raise AttentionError(str(err), err.key) from None
        except ValueError as err:
            raise AttentionError(str(err)) from None
    try:
        module = factory(channels, cfg)
    except Exception as err:
        built = "timm cannot build it" if factory is create_timm else f"{factory.__name__}(channels, cfg) failed"
        raise AttentionError(f"{cfg.module!r}: {built}: {type(err).__name__}: {err}") from None
    u = torch.randn(2, channels, 4, 4)
    try:
        with torch.no_grad():
            out = module.eval()(u)
    except Exception as err:
        raise AttentionError(f"{cfg.module!r}: forward on a (2, {channels}, 4, 4) tensor failed: "
                             f"{type(err).__name__}: {err}") from None
    if not isinstance(out, torch.Tensor) or out.shape != u.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise AttentionError(f"{cfg.module!r}: forward must return a tensor of its input's shape "
                             f"(2, {channels}, 4, 4), got {got}")
    gate = getattr(module, "gate", None)
    if gate is not None and not isinstance(gate, nn.Module):
        raise AttentionError(f"{cfg.module!r}: 'gate' must be a submodule whose output is the excitation")
