"""Weights of the official SENet release (Caffe, ported to PyTorch by ``pretrainedmodels`` and
kept by timm as ``legacy_seresnet50/101/152``) in our ResNet.

The official layout is ours with ``stride_in_1x1: true`` (the stride on the first 1x1 conv),
``stem_pool: caffe`` (max-pool 3/2 without padding, ceil mode), SE after the last BN of the
branch and before the sum (``integration: standard``), r = 16 and biases on the two FC layers
(``se.bias: true``), which the official models have; its FC layers are 1x1 convolutions
where ours are ``nn.Linear`` on the pooled vector (the same weights, reshaped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from .resnet import ResNet

# official name pattern -> our name; {L} is the official layer (1-4), our stage is L + 1.
_BRANCH = {"conv1": "0", "bn1": "1", "conv2": "3", "bn2": "4", "conv3": "7", "bn3": "8"}


def official_name(name: str) -> str:
    """Our parameter or buffer name for one of the official state dict (timm's legacy names)."""
    if m := re.fullmatch(r"layer0\.(conv1|bn1)\.(.+)", name):
        return f"stem.{'0' if m[1] == 'conv1' else '1'}.{m[2]}"
    if m := re.fullmatch(r"last_linear\.(.+)", name):
        return f"fc.{m[1]}"
    m = re.fullmatch(r"layer([1-4])\.(\d+)\.(\w+)\.(.+)", name)
    if m is None:
        raise KeyError(f"{name!r} is not a name of the official SE-ResNet layout")
    stage, unit, layer, rest = int(m[1]) + 1, m[2], m[3], m[4]
    prefix = f"stages.stage{stage}.{unit}"
    if layer in _BRANCH:
        return f"{prefix}.branch.{_BRANCH[layer]}.{rest}"
    if layer == "se_module":
        return f"{prefix}.se_standard.mapping.{rest}"
    if layer == "downsample":
        return f"{prefix}.shortcut.{rest}"
    raise KeyError(f"{name!r} is not a name of the official SE-ResNet layout")


def load_official(model: ResNet, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy an official SE-ResNet state dict into ``model`` (an SE-ResNet-50/101/152 built
    with the official layout); every tensor of both must be matched, or this raises."""
    ours = model.state_dict()
    converted = {}
    for name, value in state_dict.items():
        target = official_name(name)
        if target not in ours:
            raise KeyError(f"{name!r} maps to {target!r}, which the model does not have (is it the official layout?)")
        want = ours[target].shape
        if value.shape != want:
            if value.numel() != ours[target].numel():
                raise ValueError(f"{name!r} has shape {tuple(value.shape)}, {target!r} {tuple(want)}")
            value = value.reshape(want)  # 1x1 conv weights of the SE FC layers -> Linear
        converted[target] = value
    missing = sorted(set(ours) - set(converted))
    if missing:
        raise KeyError(f"the official state dict has no values for {len(missing)} tensors, e.g. {missing[0]!r}")
    model.load_state_dict(converted)
