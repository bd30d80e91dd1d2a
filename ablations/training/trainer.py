"""Train one configuration with one seed: SGD recipe, per-epoch checkpoints, metrics.

The model is built from the config alone. Metrics accumulate on the device and are read
once per epoch (plus a cheap finiteness check every ``CHECK_EVERY`` steps), so the loop
has no per-step host sync. A checkpoint after every epoch, and one at the step where a stop
was requested (Ctrl-C, SIGTERM), lets an interrupted run resume where it stopped and finish
with the same numbers it would have had (on CPU).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from senet_core import ResNet, build_model, narrowest_conv

from ..experiment.config import ExperimentConfig, TrainConfig
from .data import TensorBatches
from .excitation import GateRecorder, per_class_mask

CHECK_EVERY = 25
# oneDNN on the CPU was seen to hang or corrupt memory in the backward pass of
# channels_last convolutions with fewer than 8 channels (torch 2.14, width-1/4 ResNet-20).
MIN_CPU_CHANNELS_LAST = 8
EXCITATION_PER_CLASS = 50


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the run fails with this reason."""


class Stopped(Exception):
    """Training stopped on request after ``step`` steps of epoch ``epoch`` (0-based); the
    checkpoint holds that point."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(f"stopped at epoch {epoch} step {step}")
        self.epoch, self.step = epoch, step


@dataclass(frozen=True)
class Outcome:
    history: list[dict[str, float]]
    excitation: dict | None
    resumed_from: int = 0
    final: dict[str, float] = field(default_factory=dict)


EpochCallback = Callable[[int, dict[str, float]], None]


def init_model(cfg: ExperimentConfig, seed: int) -> ResNet:
    """The run's network with its initial weights, which depend on the seed alone."""
    torch.manual_seed(seed)
    return build_model(cfg.model)


def schedule(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Per-step learning-rate factor: linear warm-up, then cosine to zero or step decay."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "cosine":
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        epoch = step // steps_per_epoch
        return cfg.gamma ** sum(epoch >= m for m in cfg.milestones)

    return factor


def _topk_errors(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, 1).indices
    hit = top == y[:, None]
    return (~hit[:, 0]).sum(), (~hit.any(1)).sum()


def memory_format(cfg: ExperimentConfig, model: torch.nn.Module, device: torch.device) -> torch.memory_format:
    """channels_last when asked for, except on the CPU for very narrow models."""
    if not cfg.train.channels_last:
        return torch.contiguous_format
    if device.type == "cpu" and narrowest_conv(model) < MIN_CPU_CHANNELS_LAST:
        return torch.contiguous_format
    return torch.channels_last


def evaluate(
    model: torch.nn.Module, batches, amp: bool, device: torch.device,
    fmt: torch.memory_format = torch.contiguous_format, gates: GateRecorder | None = None,
) -> dict[str, float]:
    """Validation loss and top-1/top-5 errors; ``gates`` records excitations on the way."""
    model.eval()
    loss = torch.zeros((), device=device)
    err1 = torch.zeros((), device=device, dtype=torch.long)
    err5 = torch.zeros((), device=device, dtype=torch.long)
    with torch.no_grad(), _autocast(amp, device), gates or contextlib.nullcontext():
        for x, y in gates.batches(batches.epoch(0, 0)) if gates else batches.epoch(0, 0):
            logits = model(x.contiguous(memory_format=fmt)).float()  # ranked in float: bf16 ties move top-k
            loss += F.cross_entropy(logits, y, reduction="sum")
            e1, e5 = _topk_errors(logits, y)
            err1 += e1
            err5 += e5
    n = batches.num_images
    model.train()
    return {
        "val_loss": loss.item() / n,
        "val_top1_err": 100.0 * err1.item() / n,
        "val_top5_err": 100.0 * err5.item() / n,
    }


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read next times it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(amp: bool, device: torch.device):
    """bf16 autocast on CUDA when asked. Otherwise no autocast context at all: on the CPU
    build of torch 2.14 a backward through a forward run under ``autocast(enabled=False)``
    was seen to hang."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume_state(checkpoint: Path, model: ResNet, device: torch.device) -> dict | None:
    """The checkpoint's state, or None when it cannot be read or does not fit the model (a
    file cut short by a full disk, a change to a user's own module): the file is set aside
    and the run starts afresh, since every retry would otherwise fail the same way."""
    try:
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        own, saved = model.state_dict(), state["model"]
        if own.keys() != saved.keys() or any(own[k].shape != saved[k].shape for k in own):
            raise ValueError("its weights do not fit this configuration's model")
        if lacking := {"optimizer", "scheduler", "history", "epoch"} - state.keys():
            raise KeyError(f"no {', '.join(sorted(lacking))}")
        return state
    except Exception as err:
        aside = checkpoint.with_name(checkpoint.name + ".unreadable")
        os.replace(checkpoint, aside)
        print(f"checkpoint {checkpoint} cannot be resumed ({type(err).__name__}: {err}); set aside as "
              f"{aside.name}, the run starts from epoch 0", file=sys.stderr, flush=True)
        return None


def finish_checkpoint(checkpoint: Path, keep: str) -> None:
    """What stays of a finished run's checkpoint: its weights alone (``<name>.weights.pt``,
    a plain state_dict: half the size, since SGD's momentum is as large as the weights),
    the full resumable checkpoint, or nothing. Only once the run is complete: until then
    any worker may need to resume it."""
    if keep == "full" or not checkpoint.exists():
        return
    try:
        if keep == "weights":
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
            _save(checkpoint.with_name(checkpoint.stem + ".weights.pt"), state["model"])
        checkpoint.unlink(missing_ok=True)
    except Exception as err:  # the run is complete; a full disk must not stop the worker
        print(f"checkpoint {checkpoint} kept whole: {type(err).__name__}: {err}", file=sys.stderr, flush=True)


def train(
    cfg: ExperimentConfig,
    seed: int,
    train_batches: TensorBatches,
    test_batches,
    device: torch.device,
    checkpoint: Path | None = None,
    on_epoch: EpochCallback | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model: ResNet | None = None,
) -> Outcome:
    """Train ``cfg`` with ``seed``; resumes from ``checkpoint`` when it holds earlier steps.

    ``should_stop`` is asked after every training step; when it says yes the checkpoint is
    saved at that step and :class:`Stopped` is raised. The final evaluation also records
    the Section 7 statistics of an SE model (``EXCITATION_PER_CLASS`` test images per
    class, chosen by ``test_batches.labels``). ``model``: the network :func:`init_model`
    built for this config and seed, when the caller has it already.
    """
    model = model if model is not None else init_model(cfg, seed)
    model.to(device)
    fmt = memory_format(cfg, model, device)
    model.to(memory_format=fmt)
    tc = cfg.train
    opt = torch.optim.SGD(
        model.parameters(), lr=tc.lr, momentum=tc.momentum, nesterov=tc.nesterov and tc.momentum > 0,
        weight_decay=tc.weight_decay,
    )
    steps = len(train_batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(tc, steps))
    history: list[dict[str, float]] = []
    start = 0
    partial: dict = {}  # the steps already taken in epoch ``start`` before a stop
    state = _resume_state(checkpoint, model, device) if checkpoint is not None and checkpoint.exists() else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = list(state["history"])
        start = int(state["epoch"])
        partial = state.get("partial") or {}
        if on_epoch:
            for i, h in enumerate(history):
                on_epoch(i, h)

    def save(epoch: int, partial_epoch: dict | None) -> None:
        if checkpoint is not None:
            _save(checkpoint, {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "history": history, "epoch": epoch,
                "partial": partial_epoch,
            })

    gates = GateRecorder(model, per_class_mask(test_batches.labels, EXCITATION_PER_CLASS))
    # Inductor would turn the convolutions channels_last on its own, narrow ones included,
    # where oneDNN hangs (MIN_CPU_CHANNELS_LAST); it keeps the layout chosen here instead.
    compiled = None
    if tc.compile:
        # Dynamo keeps at most 8 compiled versions of ResNet.forward per process
        # (recompile_limit); past that a sweep's later runs would silently train eager.
        torch._dynamo.reset()
        compiled = torch.compile(model, options={"layout_optimization": fmt == torch.channels_last})
    model.train()
    for epoch in range(start, tc.epochs):
        skip = int(partial.get("step", 0)) if epoch == start else 0
        t0 = time.perf_counter() - (float(partial.get("seconds", 0.0)) if skip else 0.0)
        loss_sum = torch.tensor(float(partial.get("loss_sum", 0.0)) if skip else 0.0, device=device)
        wrong = torch.tensor(int(partial.get("wrong", 0)) if skip else 0, device=device, dtype=torch.long)
        lr = float(partial.get("lr", opt.param_groups[0]["lr"])) if skip else opt.param_groups[0]["lr"]
        for i, (x, y) in enumerate(train_batches.epoch(seed, epoch, skip), start=skip):
            x = x.contiguous(memory_format=fmt)
            # An epoch's smaller last batch runs eager: a new shape would cost a second
            # compilation (about a minute for a ResNet-20 on the CPU) for one step.
            forward = compiled if compiled is not None and len(y) == train_batches.batch_size else model
            with _autocast(tc.amp, device):
                logits = forward(x)
                loss = F.cross_entropy(logits.float(), y, label_smoothing=tc.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * len(y)
            wrong += (logits.detach().argmax(1) != y).sum()
            if (i + 1) % CHECK_EVERY == 0 and not torch.isfinite(loss_sum):
                raise NonFiniteLoss(f"non-finite training loss at epoch {epoch} step {i}")
            if progress:
                progress(1)
            if should_stop is not None and should_stop():
                save(epoch, {"step": i + 1, "loss_sum": loss_sum.item(), "wrong": wrong.item(),
                             "seconds": time.perf_counter() - t0, "lr": lr})
                raise Stopped(epoch, i + 1)
        synchronize(device)  # the epoch's steps are queued on a GPU until here
        train_time = time.perf_counter() - t0
        n = train_batches.num_images
        total_loss = loss_sum.item()
        if not math.isfinite(total_loss):
            raise NonFiniteLoss(f"non-finite training loss ({total_loss}) at epoch {epoch}")
        metrics = {
            "train_loss": total_loss / n,
            "train_top1_err": 100.0 * wrong.item() / n,
            "lr": lr,
            **evaluate(model, test_batches, tc.amp, device, fmt, gates if epoch == tc.epochs - 1 else None),
            "images_per_s": n / train_time,
        }
        metrics["epoch_time_s"] = time.perf_counter() - t0
        history.append(metrics)
        save(epoch + 1, None)
        if on_epoch:
            on_epoch(epoch, metrics)
        if should_stop is not None and should_stop() and epoch + 1 < tc.epochs:
            raise Stopped(epoch + 1, 0)
    # Nothing trained here (0 epochs, or a finished run resumed): one evaluation gives both.
    final = history[-1] if start < tc.epochs else evaluate(model, test_batches, tc.amp, device, fmt, gates)
    excitation = gates.stats(test_batches.classes)
    return Outcome(history, excitation, start,
                   {k: final[k] for k in ("val_loss", "val_top1_err", "val_top5_err")})
