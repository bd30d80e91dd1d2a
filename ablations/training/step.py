"""One training step, the same wherever a model trains or is timed training: the trainer,
the dry run's time estimate and the benchmarks' trainer-side measurements."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F


def autocast(amp: bool, device: torch.device):
    """bf16 autocast on CUDA when asked. Otherwise no autocast context at all: on the CPU
    build of torch 2.14 a backward through a forward run under ``autocast(enabled=False)``
    was seen to hang."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def sgd_step(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             opt: torch.optim.Optimizer, amp: bool = False, device: torch.device | None = None,
             label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (bf16 under ``amp`` on CUDA), cross-entropy on float logits, backward, one
    optimizer step; returns (loss, logits), both still attached to the device."""
    with autocast(amp, device or x.device):
        logits = forward(x)
        loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, logits
