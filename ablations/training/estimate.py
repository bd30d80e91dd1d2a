"""The dry-run plan table: rows, shared runs, structure, and an estimated time."""

from __future__ import annotations

import torch

from senet_core import Structure, build_model, median_latency_s

from ..experiment.plan import Plan, table_tag
from ..wording import count
from .build_check import check_builds
from .step import sgd_step
from .trainer import memory_format, synchronize


def measure_images_per_s(cfg, device: torch.device | None = None, steps: int = 3) -> float:
    """Training images/s of ``cfg`` on ``device`` (default the CPU), from a few steps: on a GPU
    at the config's batch, with its bf16 autocast and memory format, timed after a sync."""
    device = device or torch.device("cpu")
    model = build_model(cfg.model).to(device)
    size = cfg.data.input_size
    batch = cfg.data.batch_size if device.type == "cuda" else min(cfg.data.batch_size, 32)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, cfg.model.num_classes, (batch,), device=device)
    fmt = memory_format(cfg, model, device)
    model, x = model.to(memory_format=fmt), x.contiguous(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    amp = cfg.train.amp and device.type == "cuda"

    def step() -> None:
        sgd_step(model, x, y, opt, amp, device)

    warmup = 3 if device.type == "cuda" else 1  # cuDNN's autotuning happens in the first steps
    return batch / median_latency_s(step, repeats=steps, warmup=warmup, sync=lambda: synchronize(device))


def estimate_seconds(plan: Plan, device: torch.device | None = None,
                     structures: dict | None = None) -> tuple[float, float, dict]:
    """(total seconds of the plan with one worker, the first configuration's images/s,
    seconds per run by config_uid), scaling the measured rate by each configuration's
    multiply-adds (``structures``: the plan's structures, when the caller has them)."""
    structures = structures or check_builds(plan)
    first_uid, first = next(iter(plan.configs.items()))
    rate = measure_images_per_s(first, device)
    per_run = {uid: _run_seconds(cfg, rate * structures[first_uid].multiply_adds / structures[uid].multiply_adds)
               for uid, cfg in plan.configs.items()}
    return sum(per_run.values()) * plan.sweep.seeds, rate, per_run


def describe_plan(plan: Plan, measure: bool = True, device: torch.device | None = None,
                  structures: dict[str, Structure] | None = None) -> str:
    """The dry run's table (``structures``: the plan's structures, when the caller has them)."""
    device = device or torch.device("cpu")
    structures = structures or check_builds(plan)
    total, rate, per_run = estimate_seconds(plan, device, structures) if measure else (0.0, None, {})
    lines = [
        f"suite {plan.sweep.suite!r}, preset {plan.sweep.preset!r}: {count(len(plan.cells), 'row')} -> "
        f"{count(len(plan.configs), 'configuration')} -> {count(len(plan.runs), 'run')} "
        f"({count(plan.sweep.seeds, 'seed')})",
        "",
        f"{'table':>5}  {'row':<14} {'config_uid':<12}  {'shared run':<24} {'params (M)':>10} {'GFLOPs':>8} {'est. run':>9}",
    ]
    for cell in plan.cells:
        counted = structures[cell.config_uid]
        cells = plan.cells_of(cell.config_uid)
        if len(cells) == 1:
            shared = ""
        elif cells[0] == (cell.table, cell.row):
            shared = f"trained once for {len(cells)} rows"
        else:
            shared = f"same run as {table_tag(cells[0][0])} {cells[0][1]}"
        est = _fmt(per_run[cell.config_uid]) if rate else ""
        lines.append(
            f"{cell.table:>5}  {cell.row:<14} {cell.config_uid:<12}  {shared:<24} "
            f"{counted.params_m:>10.3f} {counted.gflops:>8.4f} {est:>9}"
        )
    if rate:
        where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        lines += ["", f"estimated total on this machine's {where} with one worker: {_fmt(total)} "
                      f"(from {rate:.0f} training images/s measured for the first configuration)"]
    return "\n".join(lines)


def _run_seconds(cfg, images_per_s: float) -> float:
    n_train = cfg.data.train_size or {"cifar10": 50000, "cifar100": 50000}.get(cfg.data.name, 1_281_167)
    n_test = cfg.data.test_size or {"cifar10": 10000, "cifar100": 10000}.get(cfg.data.name, 50000)
    # Evaluation runs about 3x faster than a training step per image.
    return cfg.train.epochs * (n_train + n_test / 3) / images_per_s + 1.0


def _fmt(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
