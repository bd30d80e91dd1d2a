"""Structure accounting: parameters, multiply-adds (the paper's "GFLOPs") and latency."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


aten = torch.ops.aten


def _reduction(*args, out_shape=None, **kwargs) -> int:
    return math.prod(args[0])  # one add (or compare) per input element


def _window(*args, out_shape=None, **kwargs) -> int:
    output = out_shape[0] if isinstance(out_shape[0], tuple | list) else out_shape  # max-pool: (output, indices)
    return math.prod(output) * math.prod(args[1])  # a kernel's worth per output element


def _elementwise(*args, out_shape=None, **kwargs) -> int:
    return math.prod(out_shape)  # one multiply per output element


# What the paper's GFLOPs count beyond convolutions and matrix products, inside attention
# modules only: the squeeze's pooling (one add per element of U) and the scaling (one
# multiply per element). Activations, BN, ReLU, the residual sum and the backbone's own final
# pooling are not counted (3.86 GFLOPs for ResNet-50, 3.87 for SE-ResNet-50).
ELEMENTWISE = {  # keyed by operator packet, as the counter looks them up
    **dict.fromkeys((aten.mean, aten.sum, aten.amax, aten.max, aten._adaptive_avg_pool2d, aten.adaptive_max_pool2d),
                    _reduction),
    **dict.fromkeys((aten.avg_pool2d, aten.max_pool2d_with_indices), _window),
    **dict.fromkeys((aten.mul, aten.mul_, aten.addcmul), _elementwise),
}


class _InsideAttention:
    """Counts an elementwise operation only while an attention module's forward runs."""

    def __init__(self, model: nn.Module) -> None:
        blocks = getattr(model, "attention_blocks", dict)()
        self.modules = [a for stage in blocks.values() for a in stage]
        self.depth = 0

    def __enter__(self) -> _InsideAttention:
        def enter(*_: object) -> None:
            self.depth += 1

        def leave(*_: object) -> None:
            self.depth -= 1

        self.hooks = [h for m in self.modules for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.hooks:
            h.remove()

    def only(self, formula: Callable[..., int]) -> Callable[..., int]:
        return lambda *args, **kwargs: formula(*args, **kwargs) if self.depth else 0


def count_multiply_adds(model: nn.Module, input_size: int, channels: int = 3) -> int:
    """Multiply-adds of one forward pass on one ``input_size`` x ``input_size`` image, by
    PyTorch's own operator counter (``torch.utils.flop_counter``): every convolution and
    matrix product (its FLOPs / 2), whatever module runs it, a user's or timm's included, plus
    the elementwise work of the attention modules the paper counts (:data:`ELEMENTWISE`)."""
    was_training = model.training
    device = next(model.parameters(), torch.zeros(())).device
    model.eval()
    try:
        with _InsideAttention(model) as inside, torch.no_grad():
            mapping = {op: inside.only(formula) for op, formula in ELEMENTWISE.items()}
            with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
                model(torch.zeros(1, channels, input_size, input_size, device=device))
    finally:
        model.train(was_training)
    counts = counter.get_flop_counts().get("Global", {})
    return sum(n if op in ELEMENTWISE else n // 2 for op, n in counts.items())


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
