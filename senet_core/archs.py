"""The arch registry: every backbone by name (``model.arch``), and building one from its config."""

from __future__ import annotations

from .backbone import Arch, Backbone
from .config import ModelConfig
from .mobilenet import MobileNetSpec
from .registry import Registry
from .resnet import CIFAR_PLANES, IMAGENET_PLANES, ArchSpec

ARCHS: Registry[Arch] = Registry("arch")
ARCHS.add("resnet18", ArchSpec("basic", (2, 2, 2, 2), IMAGENET_PLANES, "imagenet", 2))
ARCHS.add("resnet34", ArchSpec("basic", (3, 4, 6, 3), IMAGENET_PLANES, "imagenet", 2))
for _depth, _layers in {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}.items():
    ARCHS.add(f"resnet{_depth}", ArchSpec("bottleneck", _layers, IMAGENET_PLANES, "imagenet", 2))
ARCHS.add("resnext50_32x4d", ArchSpec("bottleneck", (3, 4, 6, 3), IMAGENET_PLANES, "imagenet", 2, groups=32, base_width=4))
# ImageNet backbones with a CIFAR stem (3x3, stride 1, no max-pool): stages keep their names
# conv2_x..conv5_x. cifar_resnet50 is the paper's ablation backbone.
ARCHS.add("cifar_resnet18", ArchSpec("basic", (2, 2, 2, 2), IMAGENET_PLANES, "cifar", 2))
ARCHS.add("cifar_resnet50", ArchSpec("bottleneck", (3, 4, 6, 3), IMAGENET_PLANES, "cifar", 2))
for _depth in (20, 32, 56, 110):
    ARCHS.add(f"cifar_resnet{_depth}", ArchSpec("basic", ((_depth - 2) // 6,) * 3, CIFAR_PLANES, "cifar", 1))
ARCHS.add("cifar_resnet164", ArchSpec("preact", (18, 18, 18), CIFAR_PLANES, "cifar", 1))
ARCHS.add("mobilenet_v2", MobileNetSpec())
# For 32 x 32 inputs: stem and group 2 at stride 1, so the last maps are 4 x 4 (as CIFAR
# ports of MobileNetV2 do), not 1 x 1.
ARCHS.add("cifar_mobilenet_v2", MobileNetSpec(stem_stride=1, strides=((2, 1),)))


def build_model(cfg: ModelConfig) -> Backbone:
    """Build the network a :class:`ModelConfig` describes (unknown names list the choices)."""
    check_stages(cfg)
    check_integration(cfg)
    return ARCHS.get(cfg.arch).build(cfg)


def stage_numbers(arch: str) -> tuple[int, ...]:
    return ARCHS.get(arch).stage_numbers


def check_stages(cfg: ModelConfig) -> None:
    """Refuse SE stages the backbone does not have, naming the valid ones."""
    se = cfg.se
    if se is None or se.stages == "all":
        return
    valid = stage_numbers(cfg.arch)
    if not se.stages or any(s not in valid for s in se.stages):
        raise ValueError(
            f"model.se.stages {list(se.stages)} is invalid for {cfg.arch}; valid stages: {list(valid)} or 'all'"
        )


def check_integration(cfg: ModelConfig) -> None:
    """Refuse an integration slot the backbone's units do not have, naming the ones they do."""
    slots = ARCHS.get(cfg.arch).slots
    if cfg.se is not None and cfg.se.integration not in slots:
        raise ValueError(f"model.se.integration {cfg.se.integration!r} is invalid for {cfg.arch}; "
                         f"valid slots: {', '.join(slots)}")
