"""Params and multiply-adds of the paper's ResNet-50 rows, checked against formulas and
torchvision's ResNet-50 as an independent reference."""

from __future__ import annotations

import pytest
import torchvision

from senet_core import ModelConfig, SEConfig, build_model, count_multiply_adds, count_params

# Output channels and unit count of the four stages of ResNet-50.
STAGES = {2: (256, 3), 3: (512, 4), 4: (1024, 6), 5: (2048, 3)}


@pytest.fixture(scope="module")
def baseline_params():
    return count_params(torchvision.models.resnet50(weights=None))


def se_params(reduction, stages=(2, 3, 4, 5), inner=False):
    total = 0
    for s in stages:
        c, n = STAGES[s]
        c = c // 4 if inner else c
        total += n * 2 * c * (c // reduction)
    return total


def test_plain_resnet50_matches_torchvision(baseline_params):
    ours = build_model(ModelConfig(se=None, stride_in_1x1=False))
    assert count_params(ours) == baseline_params
    tv = torchvision.models.resnet50(weights=None)
    assert count_multiply_adds(ours, 224) == count_multiply_adds(tv, 224)
    assert round(count_multiply_adds(ours, 224) / 1e9, 2) == 4.09


def test_stride_in_1x1_gives_the_papers_gflops():
    assert round(count_multiply_adds(build_model(ModelConfig(se=None)), 224) / 1e9, 2) == 3.86


@pytest.mark.parametrize("reduction", [2, 4, 8, 16, 32])
def test_table10_params(baseline_params, reduction):
    model = build_model(ModelConfig(se=SEConfig(reduction=reduction)))
    assert count_params(model) == baseline_params + se_params(reduction)


@pytest.mark.parametrize("stage", [2, 3, 4])
def test_table13_params(baseline_params, stage):
    model = build_model(ModelConfig(se=SEConfig(stages=(stage,))))
    assert count_params(model) == baseline_params + se_params(16, (stage,))


def test_table15_se_3x3_params(baseline_params):
    model = build_model(ModelConfig(se=SEConfig(integration="inner")))
    assert count_params(model) == baseline_params + se_params(16, inner=True)


def test_se_and_nosqueeze_multiply_adds():
    base = count_multiply_adds(build_model(ModelConfig(se=None)), 224)
    se = count_multiply_adds(build_model(ModelConfig(se=SEConfig())), 224)
    nosq = count_multiply_adds(build_model(ModelConfig(se=SEConfig(squeeze="none"))), 224)
    elements = sum(n * c * (56 // 2 ** (s - 2)) ** 2 for s, (c, n) in STAGES.items())
    fc = se_params(16)
    assert se - base == fc + 2 * elements  # FCs, pooling, scaling
    assert nosq - base == sum(n * 2 * c * (c // 16) * (56 // 2 ** (s - 2)) ** 2 for s, (c, n) in STAGES.items()) + elements
    assert round(se / 1e9, 2) == 3.87
    assert abs(nosq / 1e9 - 4.27) < 0.006
