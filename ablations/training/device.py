"""Where a run trains: the device a worker uses, the CPU threads it may take, and whether an
error has made its GPU unusable."""

from __future__ import annotations

import os

import torch

from ..errors import ConfigError


def allotted_cpus() -> int | None:
    """The CPUs a scheduler gave this task (SLURM's --cpus-per-task), so that tasks sharing a
    node do not each start a thread per core: oversubscribed, their training steps ran 5-10
    times slower (seen: two 1-CPU SLURM tasks on a 2-core node)."""
    value = os.environ.get("SLURM_CPUS_PER_TASK")
    return int(value) if value and value.isdigit() else None


def resolve_device(name: str) -> torch.device:
    """``auto``: the GPU when there is one; but when the launcher (or a scheduler) handed this
    process GPUs through CUDA_VISIBLE_DEVICES and none is usable, refuse rather than train on
    the CPU without a word."""
    if name == "auto":
        handed = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        if torch.cuda.is_available():
            name = "cuda"
        elif handed and handed != "-1":
            raise ConfigError(f"--device auto: CUDA_VISIBLE_DEVICES={handed} but no GPU is usable here "
                              "(driver, or a device list this process cannot see); use --device cpu to train on the CPU")
        else:
            name = "cpu"
    return torch.device(name)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


class DeviceLost(RuntimeError):
    """A CUDA error poisoned this process's context: every later run would fail here."""


EXIT_DEVICE_LOST = 3  # a worker's exit code when it stopped for that reason


def is_device_error(err: BaseException) -> bool:
    """A CUDA error (a device-side assert, an illegal access): the context cannot be used again."""
    accelerator_error = getattr(torch, "AcceleratorError", ())
    return isinstance(err, accelerator_error) or (isinstance(err, RuntimeError) and "CUDA error" in str(err))
