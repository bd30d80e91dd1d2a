"""The attention interface: any module in any slot, counted and recorded without knowing its
class; ECA-Net's mappings as defined; the official SENet layout exactly."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from senet_core import (
    MAPPINGS,
    AttentionError,
    ModelConfig,
    SEConfig,
    build_model,
    check_attention,
    count_multiply_adds,
    count_params,
    eca_kernel_size,
    resolve_attention,
    structure,
)

USER_MODULE = textwrap.dedent('''
    import torch
    from torch import nn

    class AvgMax(nn.Module):
        def __init__(self, channels, cfg):
            super().__init__()
            hidden = max(channels // cfg.reduction, 1)
            self.mlp = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.ReLU(),
                                     nn.Linear(hidden, channels, bias=False))
            self.gate = nn.Sigmoid()

        def forward(self, u):
            return u * self.gate(self.mlp(u.mean((2, 3))) + self.mlp(u.amax((2, 3))))[:, :, None, None]

    class Pooled(nn.Module):  # returns the descriptor, not the tensor
        def __init__(self, channels, cfg):
            super().__init__()

        def forward(self, u):
            return u.mean((2, 3))

    class Scale(nn.Module):  # a parameter outside Conv/Linear layers
        def __init__(self, channels, cfg):
            super().__init__()
            self.w = nn.Parameter(torch.ones(channels, 1, 1))

        def forward(self, u):
            return u * self.w
''')


@pytest.fixture()
def user_module(tmp_path, monkeypatch):
    (tmp_path / "user_attn.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_attn"


@pytest.mark.parametrize("integration", ["standard", "pre", "post", "identity", "inner"])
def test_a_user_module_fills_every_slot_and_is_counted(user_module, integration):
    se = SEConfig(module=f"{user_module}:AvgMax", integration=integration, reduction=4)
    model = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5, se=se))
    blocks = [b for stage in model.attention_blocks().values() for b in stage]
    assert len(blocks) == 9 and all(type(b).__name__ == "AvgMax" for b in blocks)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    plain = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5, se=None))
    extra_params = sum(count_params(b) for b in blocks)
    assert count_params(model) == count_params(plain) + extra_params
    # Its Linear layers run twice (two descriptors); two poolings and the scaling pass over U.
    extra = count_multiply_adds(model, 16) - count_multiply_adds(plain, 16)
    sizes = []
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(i[0].numel())) for b in blocks]
    model.eval()(torch.zeros(1, 3, 16, 16))
    for h in hooks:
        h.remove()
    assert extra == 3 * sum(sizes) + 2 * sum(count_params(b) for b in blocks)


def test_a_module_with_a_parameter_of_its_own_is_counted_without_a_declaration(user_module):
    model = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5,
                                    se=SEConfig(module=f"{user_module}:Scale")))
    plain = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5, se=None))
    blocks = [b for stage in model.attention_blocks().values() for b in stage]
    sizes = []
    hooks = [b.register_forward_hook(lambda m, i, o: sizes.append(o.numel())) for b in blocks]
    ours, base = structure(model, 16), structure(plain, 16)
    for h in hooks:
        h.remove()
    assert ours.params - base.params == sum(b.w.numel() for b in blocks)
    assert ours.multiply_adds - base.multiply_adds == sum(sizes)  # one multiply per element: the scaling


def test_interface_errors_name_the_reason(user_module):
    with pytest.raises(AttentionError, match="valid choices: se"):
        resolve_attention("cbam")
    with pytest.raises(AttentionError, match="has no attribute 'Missing'"):
        resolve_attention(f"{user_module}:Missing")
    with pytest.raises(AttentionError, match="must return a tensor of its input's shape"):
        check_attention(SEConfig(module=f"{user_module}:Pooled"), channels=16)


def test_se_var1_gates_the_pooled_descriptor_itself():
    block = build_model(ModelConfig(arch="resnet50", se=SEConfig(mapping="none", stages=(2,)))).stages["stage2"][0].attention
    u = torch.randn(2, 256, 7, 7)
    torch.testing.assert_close(block(u), u * torch.sigmoid(u.mean((2, 3)))[:, :, None, None])
    assert count_params(block) == 0


def test_mapping_sizes_follow_eca_net():
    def block(mapping, **kw):
        m = build_model(ModelConfig(arch="resnet50", se=SEConfig(mapping=mapping, stages=(5,), **kw)))
        return m.stages["stage5"][0].attention  # C = 2048

    assert count_params(block("channelwise")) == 2048  # SE-Var2: a diagonal W
    assert count_params(block("fc1")) == 2048 * 2048  # SE-Var3: a full W
    assert count_params(block("fc")) == 2 * 2048 * 128  # SE: W1, W2 with r = 16
    assert count_params(block("conv1d")) == eca_kernel_size(2048) == 7
    assert count_params(block("conv1d", kernel_size=3)) == 3
    assert [eca_kernel_size(c) for c in (64, 256, 512, 1024, 2048)] == [3, 5, 5, 5, 7]


def test_eca_is_a_convolution_across_neighbouring_channels():
    block = build_model(ModelConfig(arch="resnet50", se=SEConfig(mapping="conv1d", kernel_size=3, stages=(2,))))
    eca = block.stages["stage2"][0].attention
    with torch.no_grad():
        eca.mapping.conv.weight.copy_(torch.tensor([[[1.0, 2.0, 3.0]]]))
    z = torch.randn(1, 256)
    u = z[:, :, None, None].expand(1, 256, 3, 3).contiguous()  # its pooled descriptor is z
    padded = torch.nn.functional.pad(z, (1, 1))
    expected = padded[:, :-2] + 2 * padded[:, 1:-1] + 3 * padded[:, 2:]
    torch.testing.assert_close(eca(u), u * torch.sigmoid(expected)[:, :, None, None])


def test_se_var3_resnet50_has_the_expected_parameters():
    """ResNet-50 plus one C x C layer per block: 25.56 M + 20.12 M."""
    s = structure(build_model(ModelConfig(arch="resnet50", se=SEConfig(mapping="fc1"))), 224)
    assert round(s.params_m, 1) == 45.7
    plain = structure(build_model(ModelConfig(arch="resnet50", se=None)), 224)
    assert s.params - plain.params == sum(n * (64 * 2**i * 4) ** 2 for i, n in enumerate((3, 4, 6, 3)))


def test_every_mapping_is_registered_once():
    assert MAPPINGS.names() == ["fc", "none", "channelwise", "fc1", "conv1d"]
    with pytest.raises(ValueError, match="already registered"):
        MAPPINGS.add("fc", nn.Identity)


def test_checkpoints_from_before_the_mapping_module_still_load():
    model = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5))
    old = {k.replace("mapping.", ""): v for k, v in model.state_dict().items()}
    assert any(k.endswith("se_standard.fc1.weight") for k in old)
    fresh = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5))
    fresh.load_state_dict(old)
    for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_official_senet_weights_give_the_official_outputs():
    """timm's randomly initialised legacy_seresnet50 (the official release's layout) loaded into
    ours with stem_pool caffe and FC biases computes the same function (float32 tolerance)."""
    timm = pytest.importorskip("timm")
    from senet_core.official import load_official

    torch.manual_seed(0)
    ref = timm.create_model("legacy_seresnet50", pretrained=False).eval()
    for m in ref.modules():  # BN statistics away from the identity, so they matter
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = ref(x)
        ours = build_model(ModelConfig(arch="resnet50", stem_pool="caffe", se=SEConfig(bias=True))).eval()
        load_official(ours, ref.state_dict())
        torch.testing.assert_close(ours(x), expected, rtol=1e-4, atol=1e-3)
        # torchvision's stem pool is another function: the check above can fail.
        other = build_model(ModelConfig(arch="resnet50", stem_pool="torchvision", se=SEConfig(bias=True))).eval()
        load_official(other, ref.state_dict())
        assert (other(x) - expected).abs().max() > 1e-2
