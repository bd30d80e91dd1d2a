"""Every squeeze x gate x integration x stage set builds, trains a step and keeps shapes."""

from __future__ import annotations

import itertools
import typing

import pytest
import torch

from senet_core import GATES, MAPPINGS, SQUEEZES, Integration, ModelConfig, SEConfig, build_model

INTEGRATIONS = typing.get_args(Integration)
BACKBONES = {
    # arch, width, input size, stage sets
    "cifar_resnet20": (0.5, 16, ("all", (1,), (2, 3))),
    "resnet50": (0.0625, 32, ("all", (2,), (3, 5))),
}
CASES = [
    (arch, sq, gate, integ, stages)
    for arch, (_, _, stage_sets) in BACKBONES.items()
    for sq, gate, integ, stages in itertools.product(SQUEEZES.names(), GATES.names(), INTEGRATIONS, stage_sets)
]


@pytest.mark.parametrize("arch,squeeze,gate,integration,stages", CASES)
def test_variant_forward_backward(arch, squeeze, gate, integration, stages):
    width, size, _ = BACKBONES[arch]
    se = SEConfig(reduction=4, squeeze=squeeze, gate=gate, integration=integration, stages=stages)
    model = build_model(ModelConfig(arch=arch, num_classes=7, width=width, se=se))
    per_stage = model.attention_blocks()
    wanted = set(model.stage_numbers) if stages == "all" else set(stages)
    assert {s for s, blocks in per_stage.items() if blocks} == wanted
    assert all(len(per_stage[s]) == len(model.stages[f"stage{s}"]) for s in wanted)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    fc1 = next(b for blocks in per_stage.values() for b in blocks).mapping.fc1
    assert fc1.weight.grad is not None and torch.isfinite(fc1.weight.grad).all()


@pytest.mark.parametrize("mapping,squeeze,integration",
                         list(itertools.product(MAPPINGS.names(), SQUEEZES.names(), INTEGRATIONS)))
def test_every_mapping_composes_with_every_squeeze_and_slot(mapping, squeeze, integration):
    se = SEConfig(mapping=mapping, squeeze=squeeze, integration=integration, bias=mapping != "none")
    model = build_model(ModelConfig(arch="cifar_resnet20", num_classes=7, width=0.5, se=se))
    x = torch.randn(2, 3, 16, 16)
    out = model(x)
    assert out.shape == (2, 7)
    out.sum().backward()
    blocks = [b for stage in model.attention_blocks().values() for b in stage]
    assert len(blocks) == 9
    grads = [p.grad for b in blocks for p in b.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert (len(grads) == 0) == (mapping == "none")  # SE-Var1 alone has no parameters


@pytest.mark.parametrize("arch", ["cifar_resnet110", "cifar_resnet164", "cifar_resnet50", "resnext50_32x4d"])
def test_other_backbones_run(arch):
    width = 0.125 if arch != "resnext50_32x4d" else 0.25
    model = build_model(ModelConfig(arch=arch, num_classes=10, width=width, se=SEConfig()))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_integration_positions_use_the_right_width():
    """SE-PRE sees the unit's input channels; SE_3x3 the bottleneck width; others the output."""
    def first_block(integration):
        m = build_model(ModelConfig(arch="resnet50", se=SEConfig(integration=integration, stages=(2,))))
        return m.stages["stage2"][0].attention

    assert first_block("pre").mapping.fc1.in_features == 64
    assert first_block("inner").mapping.fc1.in_features == 64
    for integration in ("standard", "post", "identity"):
        assert first_block(integration).mapping.fc1.in_features == 256
