"""Structure accounting: parameters, multiply-adds (the paper's "GFLOPs") and latency."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Layers whose multiply-adds the paper's convention leaves out (their parameters included).
_UNCOUNTED = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def count_multiply_adds(model: nn.Module, input_size: int, channels: int = 3) -> int:
    """Multiply-adds of one forward pass on one ``input_size`` x ``input_size`` image.

    Counts convolutions (any dimension) and linear layers (the paper's GFLOPs convention),
    plus what a module declares through ``multiply_adds(inputs, output)`` for its own work
    beyond such layers: an SE block's pooling (one add per input element) and scaling (one
    multiply per element), a per-channel weight. BN, ReLU and the final global pooling are
    not counted. A module holding parameters of its own outside those layers must declare
    its count: otherwise this raises rather than report a number that is silently low.
    """
    total = 0

    def conv_hook(m: nn.modules.conv._ConvNd, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    def linear_hook(m: nn.Linear, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features  # the SE FC layers on the pooled vector too

    def declared_hook(m: nn.Module, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += int(m.multiply_adds(inp, out))

    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.conv._ConvNd):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif callable(getattr(m, "multiply_adds", None)):
            hooks.append(m.register_forward_hook(declared_hook))
        elif not isinstance(m, _UNCOUNTED) and any(True for _ in m.parameters(recurse=False)):
            for h in hooks:
                h.remove()
            raise ValueError(f"{name} ({type(m).__name__}) has parameters outside Conv/Linear layers and declares "
                             "no multiply_adds(inputs, output); its cost cannot be counted")
    was_training = model.training
    device = next(model.parameters(), torch.zeros(())).device
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, input_size, input_size, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def narrowest_conv(model: nn.Module) -> int:
    """Fewest channels of any backbone convolution (those inside attention modules excluded)."""
    blocks = getattr(model, "attention_blocks", dict)()
    inside = {id(c) for stage in blocks.values() for a in stage for c in a.modules()}
    return min(
        min(m.in_channels, m.out_channels) if m.in_channels > 3 else m.out_channels
        for m in model.modules()
        if isinstance(m, nn.Conv2d) and id(m) not in inside
    )


@dataclass(frozen=True)
class Structure:
    params: int
    multiply_adds: int

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gflops(self) -> float:
        return self.multiply_adds / 1e9


def structure(model: nn.Module, input_size: int) -> Structure:
    return Structure(count_params(model), count_multiply_adds(model, input_size))


def median_latency_s(
    fn: Callable[[], object], repeats: int = 10, warmup: int = 2, sync: Callable[[], None] | None = None
) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
