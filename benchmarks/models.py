"""Training images/s of SE-ResNet-50 at 224: ours, plain ResNet-50, timm's ``seresnet50``.

Needs only torch (and timm for its model), so it runs on a bare GPU machine:
``python -m benchmarks.models --device cuda --out results.json``. Models are timed in
alternating rounds; each figure is the median over rounds. Optionally prints a
torch.profiler table of our SE-ResNet-50 training step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ablations.training.step import sgd_step
from senet_core import ModelConfig, SEConfig, build_model


def _models() -> dict[str, torch.nn.Module]:
    out = {
        "ours_seresnet50_paper_stride": build_model(ModelConfig()),
        "ours_seresnet50_timm_stride": build_model(ModelConfig(stride_in_1x1=False)),
        "ours_resnet50_timm_stride": build_model(ModelConfig(stride_in_1x1=False, se=None)),
    }
    try:
        import timm

        out["timm_seresnet50"] = timm.create_model("seresnet50", pretrained=False, num_classes=1000)
        out["timm_resnet50"] = timm.create_model("resnet50", pretrained=False, num_classes=1000)
    except ImportError:
        pass
    return out


def throughput(device: torch.device, size: int, batch: int, steps: int, rounds: int, compile_: bool) -> dict:
    amp = device.type == "cuda"
    models = _models()
    state = {}
    for name, model in models.items():
        model = model.to(device).to(memory_format=torch.channels_last)
        fwd = torch.compile(model) if compile_ else model
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        state[name] = (fwd, opt)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)

    def run(name: str, n: int) -> float:
        fwd, opt = state[name]
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(n):
            sgd_step(fwd, x, y, opt, amp, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return batch * n / (time.perf_counter() - t0)

    for name in state:
        run(name, 3 if not compile_ else 5)  # warm-up (and compilation)
    per: dict[str, list[float]] = {name: [] for name in state}
    names = list(state)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            per[name].append(run(name, steps))
    ips = {name: statistics.median(v) for name, v in per.items()}
    out = {"images_per_s": ips, "batch": batch, "size": size, "steps": steps, "rounds": rounds,
           "compile": compile_, "amp_bf16": amp}
    ours, plain = ips["ours_seresnet50_timm_stride"], ips["ours_resnet50_timm_stride"]
    out["se_overhead_train"] = plain / ours
    if "timm_seresnet50" in ips:
        out["vs_timm_train"] = ips["timm_seresnet50"] / ours
    return out


def profile(device: torch.device, size: int, batch: int) -> str:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    model = build_model(ModelConfig(se=SEConfig())).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=device)
    amp = device.type == "cuda"

    def step():
        sgd_step(model, x, y, opt, amp, device)

    for _ in range(3):
        step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with prof(activities=acts) as p:
        for _ in range(5):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    return p.key_averages().table(sort_by=key, row_limit=18)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--profile", action="store_true")
    p.add_argument("--out")
    args = p.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": str(torch.__version__)}
    result.update(throughput(device, args.size, args.batch, args.steps, args.rounds, args.compile))
    print(json.dumps(result, indent=1))
    if args.profile:
        print(profile(device, args.size, min(args.batch, 128)))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
