"""Section 7.2 ("role of excitation") statistics: per-class mean excitation per channel.

For the last SE block of each stage, the gate s (averaged over positions when the squeeze
is ``none``) is recorded for up to ``per_class`` test images of every class; the result
holds its mean and std over the images of each class and over all of them (Figs. 6-7).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from senet_core import ResNet


def _per_class_indices(labels: torch.Tensor, per_class: int) -> torch.Tensor:
    picked = [torch.nonzero(labels == c).flatten()[:per_class] for c in labels.unique()]
    return torch.sort(torch.cat(picked)).values


def excitation_stats(
    model: ResNet,
    batches: Iterator[tuple[torch.Tensor, torch.Tensor]],
    classes: tuple[str, ...],
) -> dict | None:
    """Run ``batches`` through ``model`` (eval mode) and summarise the gates; ``None`` if no SE."""
    last = {stage: blocks[-1] for stage, blocks in model.se_blocks().items() if blocks}
    if not last:
        return None
    names = {m: n for n, m in model.named_modules()}
    captured: dict[int, list[torch.Tensor]] = {stage: [] for stage in last}
    def per_channel(out: torch.Tensor) -> torch.Tensor:
        # (N, C) after pooling; (N, C, H, W) with squeeze 'none', averaged over positions.
        return out.float().flatten(2).mean(2) if out.dim() > 2 else out.float()

    hooks = [
        block.gate.register_forward_hook(
            lambda _m, _i, out, stage=stage: captured[stage].append(per_channel(out))
        )
        for stage, block in last.items()
    ]
    labels = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for x, y in batches:
                model(x)
                labels.append(y)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    y = torch.cat(labels).cpu()
    out: dict = {"classes": list(classes), "stages": {}}
    for stage, block in last.items():
        s = torch.cat(captured[stage]).cpu()
        per_class = {}
        for c in y.unique().tolist():
            sc = s[y == c]
            per_class[classes[c]] = _summary(sc)
        out["stages"][str(stage)] = {
            "block": names[block],
            "channels": s.shape[1],
            "per_class": per_class,
            "all": _summary(s),
        }
    return out


def _summary(s: torch.Tensor) -> dict:
    std = s.std(0, unbiased=False) if len(s) > 1 else torch.zeros(s.shape[1])
    return {"n": len(s), "mean": [round(v, 6) for v in s.mean(0).tolist()], "std": [round(v, 6) for v in std.tolist()]}


def subset_for_excitation(images: torch.Tensor, labels: torch.Tensor, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    idx = _per_class_indices(labels, per_class)
    return images[idx], labels[idx]
