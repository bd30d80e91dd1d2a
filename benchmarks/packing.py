"""One process of the packing benchmark: trains CIFAR-stem SE-ResNet-50 (full width, batch 128,
bf16, channels_last) on synthetic data on the GPU and prints its images/s, timing ``--steps``
steps from the wall-clock time ``--start-at``, so that K processes are timed together."""

from __future__ import annotations

import argparse
import time

import torch

from ablations.training.step import sgd_step
from senet_core import ModelConfig, build_model


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--start-at", type=float, required=True)
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    model = build_model(ModelConfig(arch="cifar_resnet50", num_classes=10)).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(args.batch, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (args.batch,), device=device)

    def step() -> None:
        sgd_step(model, x, y, opt, amp=True, device=device)

    while time.time() < args.start_at:  # warm up (cuDNN autotuning) until everyone starts
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    torch.cuda.synchronize()
    print(f"images_per_s {args.steps * args.batch / (time.perf_counter() - t0):.1f}")


if __name__ == "__main__":
    main()
