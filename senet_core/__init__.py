"""Squeeze-and-Excitation blocks, ResNet and MobileNetV2 backbones and their structure accounting.

Pure PyTorch; imports nothing else of this project.
"""

from __future__ import annotations

from .archs import ARCHS, build_model, check_integration, check_stages, stage_numbers
from .attention import ATTENTION, AttentionError, check_attention, create_attention, resolve_attention
from .backbone import Arch, Backbone
from .config import SINCE_0_2, Gate, Integration, ModelConfig, SEConfig, Squeeze
from .mappings import MAPPINGS, eca_kernel_size
from .mobilenet import MobileNetSpec, MobileNetV2
from .registry import Registry
from .resnet import ArchSpec, ResNet
from .se import GATES, SQUEEZES, SEBlock
from .structure import (
    Structure,
    count_multiply_adds,
    count_params,
    median_latency_s,
    narrowest_conv,
    structure,
)

__all__ = [
    "ARCHS",
    "ATTENTION",
    "GATES",
    "MAPPINGS",
    "SINCE_0_2",
    "SQUEEZES",
    "Arch",
    "ArchSpec",
    "AttentionError",
    "Backbone",
    "Gate",
    "Integration",
    "MobileNetSpec",
    "MobileNetV2",
    "ModelConfig",
    "Registry",
    "ResNet",
    "SEBlock",
    "SEConfig",
    "Squeeze",
    "Structure",
    "build_model",
    "check_attention",
    "check_integration",
    "check_stages",
    "count_multiply_adds",
    "count_params",
    "create_attention",
    "eca_kernel_size",
    "median_latency_s",
    "narrowest_conv",
    "resolve_attention",
    "stage_numbers",
    "structure",
]
