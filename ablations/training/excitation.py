"""Section 7.2 ("role of excitation") statistics: per-class mean excitation per channel.

For the last attention module of each stage, the gate s (the output of its ``gate``
submodule, averaged over positions when there is no squeeze, and over its calls when a module
gates more than once, as coordinate attention gates its height and its width maps) is
recorded for up to ``per_class`` test images of every class; the result holds its mean and
std over the images of each class and over all of them (Figs. 6-7).
The gates are recorded during the run's final evaluation pass, so they cost no extra
forward pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from senet_core import Backbone


def per_class_mask(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    """The first ``per_class`` images of every class, as a mask over ``labels``."""
    keep = torch.zeros(len(labels), dtype=torch.bool, device=labels.device)
    for c in labels.unique():
        keep[torch.nonzero(labels == c).flatten()[:per_class]] = True
    return keep


class GateRecorder:
    """Records the gates of the last SE block of each stage for the images ``keep`` selects,
    while the batches passed through :meth:`batches` (in the order ``keep`` indexes) run
    through the model; a context manager around that pass (``trainer.evaluate`` enters it)."""

    def __init__(self, model: Backbone, keep: torch.Tensor) -> None:
        # Modules that expose no gate (a user's module may not) have nothing to record.
        self.last = {stage: blocks[-1] for stage, blocks in model.attention_blocks().items()
                     if blocks and isinstance(getattr(blocks[-1], "gate", None), torch.nn.Module)}
        self.names = {m: n for n, m in model.named_modules()}
        self.keep = keep
        self._mask = keep[:0]
        self._captured: dict[int, list[torch.Tensor]] = {stage: [] for stage in self.last}
        self._calls: dict[int, list[torch.Tensor]] = {stage: [] for stage in self.last}  # of the batch in flight
        self._labels: list[torch.Tensor] = []
        self._hooks: list = []

    def __enter__(self) -> GateRecorder:
        self._hooks = [
            block.gate.register_forward_hook(lambda _m, _i, out, stage=stage: self._record(stage, out))
            for stage, block in self.last.items()
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def _record(self, stage: int, out: torch.Tensor) -> None:
        # (N, C) or (N, C, 1, 1) after pooling; (N, C, H, W) without: averaged over positions.
        s = out[self._mask].float()
        self._calls[stage].append(s.flatten(2).mean(2) if s.dim() > 2 else s)

    def _end_batch(self) -> None:
        for stage, calls in self._calls.items():
            if calls:
                self._captured[stage].append(torch.stack(calls).mean(0))
                calls.clear()

    def batches(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        start = 0
        for x, y in batches:
            self._mask = self.keep[start : start + len(y)].to(y.device)
            self._labels.append(y[self._mask])
            start += len(y)
            yield x, y
            self._end_batch()

    def stats(self, classes: tuple[str, ...]) -> dict | None:
        """Per-class and overall mean/std of each recorded gate; ``None`` for a model without
        attention (or whose modules expose no gate)."""
        if not self.last or not self._labels:
            return None
        y = torch.cat(self._labels).cpu()
        out: dict = {"classes": list(classes), "stages": {}}
        for stage, block in self.last.items():
            s = torch.cat(self._captured[stage]).cpu()
            out["stages"][str(stage)] = {
                "block": self.names[block],
                "channels": s.shape[1],
                "per_class": {classes[c]: _summary(s[y == c]) for c in y.unique().tolist()},
                "all": _summary(s),
            }
        return out


def _summary(s: torch.Tensor) -> dict:
    std = s.std(0, unbiased=False) if len(s) > 1 else torch.zeros(s.shape[1])
    return {"n": len(s), "mean": [round(v, 6) for v in s.mean(0).tolist()], "std": [round(v, 6) for v in std.tolist()]}
