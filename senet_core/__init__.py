"""Squeeze-and-Excitation blocks, ResNet backbones and their structure accounting.

Pure PyTorch; imports nothing else of this project.
"""

from __future__ import annotations

from .attention import ATTENTION, AttentionError, check_attention, create_attention, resolve_attention
from .config import SINCE_0_2, Gate, Integration, ModelConfig, SEConfig, Squeeze
from .mappings import MAPPINGS, eca_kernel_size
from .registry import Registry
from .resnet import ARCHS, ArchSpec, ResNet, build_model, check_stages, stage_numbers
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
    "AttentionError",
    "ArchSpec",
    "Gate",
    "Integration",
    "ModelConfig",
    "Registry",
    "ResNet",
    "SEBlock",
    "SEConfig",
    "Squeeze",
    "Structure",
    "build_model",
    "check_attention",
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
