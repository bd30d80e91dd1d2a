"""Squeeze-and-Excitation blocks, ResNet backbones and their structure accounting.

Pure PyTorch; imports nothing else of this project.
"""

from __future__ import annotations

from .config import Gate, Integration, ModelConfig, SEConfig, Squeeze
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
    "GATES",
    "SQUEEZES",
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
    "check_stages",
    "count_multiply_adds",
    "count_params",
    "median_latency_s",
    "narrowest_conv",
    "stage_numbers",
    "structure",
]
