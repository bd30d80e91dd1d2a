"""Structure accounting: parameters, multiply-adds (the paper's "GFLOPs") and latency."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .se import SEBlock


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_multiply_adds(model: nn.Module, input_size: int, channels: int = 3) -> int:
    """Multiply-adds of one forward pass on one ``input_size`` x ``input_size`` image.

    Counts convolutions and linear layers (the paper's GFLOPs convention), plus, for each SE
    block, its pooling (one add per input element) and its scaling (one multiply per element).
    BN, ReLU and the final global pooling are not counted.
    """
    total = 0

    def conv_hook(m: nn.Conv2d, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features  # the SE FC layers on the pooled vector too

    def se_hook(m: SEBlock, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        nonlocal total
        elements = inp[0].numel()
        total += elements if m.squeeze == "none" else 2 * elements

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, SEBlock):
            hooks.append(m.register_forward_hook(se_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, channels, input_size, input_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def narrowest_conv(model: nn.Module) -> int:
    """Fewest channels of any backbone convolution (SE layers excluded)."""
    se_convs = {id(c) for m in model.modules() if isinstance(m, SEBlock) for c in m.modules()}
    return min(
        min(m.in_channels, m.out_channels) if m.in_channels > 3 else m.out_channels
        for m in model.modules()
        if isinstance(m, nn.Conv2d) and id(m) not in se_convs
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
