"""ResNet-18/34 and MobileNetV2 against torchvision's (parameters and multiply-adds by the
same counter), their attention slots, and SE's derived cost on them."""

from __future__ import annotations

import pytest
import torch
import torchvision

from senet_core import ModelConfig, SEConfig, build_model, count_params, structure


@pytest.mark.parametrize(("arch", "params_m", "gflops"), [
    ("resnet18", 11.69, 1.81), ("resnet34", 21.80, 3.66), ("mobilenet_v2", 3.50, 0.30),
])
def test_plain_backbones_are_torchvisions(arch, params_m, gflops):
    ours = build_model(ModelConfig(arch=arch, se=None))
    theirs = getattr(torchvision.models, arch)(weights=None)
    assert count_params(ours) == count_params(theirs) and round(count_params(ours) / 1e6, 2) == params_m
    assert structure(ours, 224) == structure(theirs, 224) and round(structure(ours, 224).gflops, 2) == gflops


def test_se_resnet18_adds_c_squared_over_8_per_unit():
    # r = 16, no biases: W1 and W2 hold C * C / 16 weights each; two units per stage.
    plain = count_params(build_model(ModelConfig(arch="resnet18", se=None)))
    se = count_params(build_model(ModelConfig(arch="resnet18", se=SEConfig())))
    assert se - plain == sum(2 * c * c // 8 for c in (64, 128, 256, 512))


@pytest.mark.parametrize(("integration", "channels"), [
    # The first unit of each stage: after the depthwise conv its expanded width, on the unit's
    # input the unit's input width, else its output width.
    ("inner", (32, 96, 144, 192, 384, 576, 960)),
    ("pre", (32, 16, 24, 32, 64, 96, 160)),
    ("standard", (16, 24, 32, 64, 96, 160, 320)),
    ("post", (16, 24, 32, 64, 96, 160, 320)),
])
def test_mobilenet_v2_slots(integration, channels):
    model = build_model(ModelConfig(arch="mobilenet_v2", se=SEConfig(integration=integration)))
    blocks = model.attention_blocks()
    assert [len(b) for b in blocks.values()] == [1, 2, 3, 4, 3, 3, 1]
    assert tuple(b[0].mapping.fc1.in_features for b in blocks.values()) == channels
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 1000)


def test_mobilenet_v2_has_no_identity_slot_and_names_its_stages():
    with pytest.raises(ValueError, match="'identity' is invalid for mobilenet_v2; valid slots: standard, pre, post, inner"):
        build_model(ModelConfig(arch="mobilenet_v2", se=SEConfig(integration="identity")))
    with pytest.raises(ValueError, match=r"valid stages: \[1, 2, 3, 4, 5, 6, 7\]"):
        build_model(ModelConfig(arch="mobilenet_v2", se=SEConfig(stages=(8,))))
    model = build_model(ModelConfig(arch="mobilenet_v2", se=SEConfig(stages=(6, 7))))
    assert [len(b) for b in model.attention_blocks().values()] == [0, 0, 0, 0, 0, 3, 1]


@pytest.mark.parametrize("arch", ["cifar_resnet18", "cifar_mobilenet_v2"])
def test_cifar_variants_keep_32_pixel_inputs_at_4x4(arch):
    model = build_model(ModelConfig(arch=arch, num_classes=10, width=0.25, se=SEConfig()))
    last = []
    model.stages[list(model.stages)[-1]].register_forward_hook(lambda m, i, o: last.append(o.shape[-1]))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10) and last == [4]


def test_mobilenet_width_rounds_to_multiples_of_8_as_torchvision():
    ours = build_model(ModelConfig(arch="mobilenet_v2", width=0.5, se=None))
    assert count_params(ours) == count_params(torchvision.models.mobilenet_v2(weights=None, width_mult=0.5))
