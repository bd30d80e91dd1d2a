"""timm's attention modules in the project's slots: the same networks as timm's own
(parameter for parameter), the SE factors honoured where a module has them and refused,
naming the field, where it has not."""

from __future__ import annotations

import functools
from functools import cache

import pytest
import timm
import torch
from timm.layers import get_attn

from ablations.errors import ConfigError
from ablations.experiment.config import ExperimentConfig
from ablations.experiment.schema import parse
from senet_core import ModelConfig, SEConfig, build_model, count_params

# timm's create_model("resnet50", block_args=dict(attn_layer=...)) with the settings our
# factors give (r = 16, hidden width not rounded, no biases): the same network as ours.
PEERS = {
    "timm:se": functools.partial(get_attn("se"), rd_ratio=1 / 16, rd_divisor=1, bias=False),
    "timm:eca": "eca",
    "timm:cbam": functools.partial(get_attn("cbam"), rd_ratio=1 / 16, rd_divisor=1, mlp_bias=False),
    "timm:gc": functools.partial(get_attn("gc"), rd_ratio=1 / 16, rd_divisor=1),
    "timm:coord": functools.partial(get_attn("coord"), rd_ratio=1 / 16, rd_divisor=1, bias=False),
}


@cache
def timm_params(layer) -> int:
    """Parameters of timm's ResNet-50 with ``layer`` (None: plain) as every block's attention."""
    return count_params(timm.create_model("resnet50", block_args=dict(attn_layer=layer)))


def _params(module: str | None, **se) -> int:
    return count_params(build_model(ModelConfig(arch="resnet50", se=SEConfig(module=module, **se) if module else None)))


@pytest.mark.parametrize("module", list(PEERS))
def test_our_resnet50_with_a_timm_module_is_timms(module):
    assert _params(module) == timm_params(PEERS[module])


def test_our_se_and_eca_are_timms_too():
    assert _params("se") == _params("timm:se") == 28_071_976
    assert _params("se", mapping="conv1d") == _params("timm:eca") == 25_557_118


def test_the_reduction_ratio_is_honoured_on_narrow_tensors():
    # timm's SEModule rounds the hidden width to a multiple of 8: r = 16 on 64 channels would be 8.
    model = build_model(ModelConfig(arch="resnet18", se=SEConfig(module="timm:se")))
    first = model.attention_blocks()[2][0]
    assert first.fc1.out_channels == 64 // 16


def test_gate_and_kernel_size_reach_the_module():
    model = build_model(ModelConfig(arch="resnet50", se=SEConfig(module="timm:eca", gate="tanh", kernel_size=3)))
    blocks = [b for stage in model.attention_blocks().values() for b in stage]
    x = torch.randn(8)
    assert all(torch.equal(b.gate(x), torch.tanh(x)) and b.conv.kernel_size == (3,) for b in blocks)
    auto = build_model(ModelConfig(arch="resnet50", se=SEConfig(module="timm:eca")))
    assert [stage[0].conv.kernel_size[0] for stage in auto.attention_blocks().values()] == [5, 5, 5, 7]


def _config(se: dict) -> ExperimentConfig:
    return parse(ExperimentConfig, {"model": {"arch": "cifar_resnet20", "num_classes": 10, "se": se}})


@pytest.mark.parametrize(("se", "message"), [
    ({"module": "timm:cbam", "squeeze": "max"}, "model.se.squeeze: 'max' has no meaning for timm:cbam"),
    ({"module": "timm:eca", "reduction": 8}, "model.se.reduction: 8 has no meaning for timm:eca"),
    ({"module": "timm:ese", "bias": True}, "model.se.bias: True has no meaning for timm:ese"),
    ({"module": "timm:cbam", "mapping": "fc1"}, "model.se.mapping: 'fc1' has no meaning for timm:cbam"),
    ({"module": "timm:cbm"}, "model.se.module: unknown timm attention module 'cbm'; timm modules that sit"),
    ({"module": "timm:ge"}, "model.se.module: 'timm:ge': timm cannot build it: TypeError"),
])
def test_what_a_timm_module_cannot_take_is_refused_naming_the_field(se, message):
    with pytest.raises(ConfigError) as err:
        _config(se)
    assert message in str(err.value)
