from __future__ import annotations

import pytest

from senet_core import ARCHS, GATES, ModelConfig, Registry, SEConfig, build_model


def test_unknown_arch_lists_choices():
    with pytest.raises(ValueError, match="unknown arch 'resnet51'; valid choices: .*resnet50.*cifar_resnet110"):
        build_model(ModelConfig(arch="resnet51"))


def test_unknown_gate_lists_choices():
    with pytest.raises(ValueError, match="valid choices: sigmoid, tanh, relu"):
        GATES.get("softmax")


def test_unknown_squeeze_lists_choices():
    with pytest.raises(ValueError, match="valid choices: avg, max, none"):
        build_model(ModelConfig(arch="cifar_resnet20", se=SEConfig(squeeze="median")))


def test_registry_refuses_duplicates():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)
    assert "resnet50" in ARCHS


def test_stages_outside_the_backbone_are_refused():
    with pytest.raises(ValueError, match=r"valid stages: \[1, 2, 3\]"):
        build_model(ModelConfig(arch="cifar_resnet20", se=SEConfig(stages=(4,))))


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction must be a positive integer"):
        SEConfig(reduction=0)
