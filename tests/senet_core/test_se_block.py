from __future__ import annotations

import pytest
import torch

from senet_core import ModelConfig, SEBlock, SEConfig, build_model
from senet_core.se import global_avg_pool


@pytest.mark.parametrize("squeeze,pool", [("max", lambda u: u.amax((2, 3))), ("avg", lambda u: u.mean((2, 3)))])
def test_squeeze_pools_what_it_says(squeeze, pool):
    block = SEBlock(4, SEConfig(reduction=2, squeeze=squeeze))
    seen = {}
    block.mapping.fc1.register_forward_hook(lambda m, i, o: seen.update(z=i[0]))
    u = torch.randn(2, 4, 5, 5)
    block(u)
    torch.testing.assert_close(seen["z"], pool(u), rtol=0, atol=1e-6)


def test_no_squeeze_gives_a_spatial_gate_with_the_same_layers():
    torch.manual_seed(0)
    se = SEBlock(8, SEConfig(reduction=2, squeeze="none"))
    pooled = SEBlock(8, SEConfig(reduction=2, squeeze="avg"))
    u = torch.randn(2, 8, 6, 6)
    s = se.excitation(u)
    assert s.shape == (2, 8, 6, 6)
    assert s.std(dim=(2, 3)).max() > 1e-3  # a per-position map, not one value per channel
    assert [p.numel() for p in se.parameters()] == [p.numel() for p in pooled.parameters()]
    assert pooled.excitation(u).shape == (2, 8, 1, 1)


@pytest.mark.parametrize("gate,low,high", [("sigmoid", 0, 1), ("tanh", -1, 1), ("relu", 0, float("inf"))])
def test_gate_range(gate, low, high):
    block = SEBlock(16, SEConfig(reduction=4, gate=gate))
    s = block.excitation(torch.randn(8, 16, 4, 4) * 3)
    assert s.min() >= low and s.max() <= high
    if gate == "tanh":
        assert s.min() < 0  # tanh can really switch channels negative


def test_hidden_width_and_floor():
    assert SEBlock(64, SEConfig(reduction=16)).mapping.fc1.out_features == 4
    # On narrow CIFAR stages C // r can be 0; the floor keeps a valid layer.
    assert SEBlock(16, SEConfig(reduction=32)).mapping.fc1.out_features == 1
    assert SEBlock(16, SEConfig(reduction=32, min_hidden=4)).mapping.fc1.out_features == 4
    assert SEBlock(16, SEConfig(reduction=32, squeeze="none")).mapping.fc1.out_channels == 1


def test_bias_switch():
    assert SEBlock(8, SEConfig(reduction=2)).mapping.fc1.bias is None
    assert SEBlock(8, SEConfig(reduction=2, bias=True)).mapping.fc1.bias is not None


@pytest.mark.parametrize("arch,size", [("cifar_resnet20", 16), ("resnet50", 64)])
def test_gate_forced_to_one_makes_standard_se_an_identity(arch, size):
    """With s == 1 the SE model computes exactly its baseline (weights copied)."""
    width = 0.25 if arch == "resnet50" else 1.0
    torch.manual_seed(0)
    base = build_model(ModelConfig(arch=arch, num_classes=10, width=width, se=None)).eval()
    se = build_model(ModelConfig(arch=arch, num_classes=10, width=width, se=SEConfig(reduction=4))).eval()
    missing = se.load_state_dict(base.state_dict(), strict=False)
    assert missing.unexpected_keys == []
    assert all(".se_standard." in k for k in missing.missing_keys)
    for block in se.modules():
        if isinstance(block, SEBlock):
            block.excitation = lambda u: torch.ones_like(u[:, :, :1, :1])
    x = torch.randn(2, 3, size, size)
    torch.testing.assert_close(se(x), base(x))
    # ...and with the real gate the output differs, so the check above can fail.
    se_real = build_model(ModelConfig(arch=arch, num_classes=10, width=width, se=SEConfig(reduction=4))).eval()
    se_real.load_state_dict(se.state_dict())
    assert not torch.allclose(se_real(x), base(x))


def test_global_avg_pool_matches_mean_and_its_gradient():
    u = torch.randn(3, 5, 4, 6, dtype=torch.double, requires_grad=True)
    torch.testing.assert_close(global_avg_pool(u), u.mean((2, 3)))
    assert torch.autograd.gradcheck(global_avg_pool, (u,))
    channels_last = u.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    assert torch.autograd.gradcheck(global_avg_pool, (channels_last,))


@pytest.mark.parametrize("squeeze", ["avg", "max", "none"])
def test_fused_residual_form_equals_scale_then_add(squeeze):
    """``block(u, r)`` is ``r + block(u)``, values and gradients (the standard integration)."""
    torch.manual_seed(0)
    block = SEBlock(8, SEConfig(reduction=2, squeeze=squeeze, bias=True)).double()
    u = torch.randn(2, 8, 5, 5, dtype=torch.double, requires_grad=True)
    r = torch.randn(2, 8, 5, 5, dtype=torch.double, requires_grad=True)
    fused, unfused = block(u, r), r + block(u)
    torch.testing.assert_close(fused, unfused)
    inputs = (u, r, *block.parameters())
    for a, b in zip(torch.autograd.grad(fused.square().sum(), inputs),
                    torch.autograd.grad(unfused.square().sum(), inputs), strict=True):
        torch.testing.assert_close(a, b)
