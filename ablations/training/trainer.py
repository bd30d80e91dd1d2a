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

from senet_core import Backbone, build_model, narrowest_conv

from ..experiment.config import ExperimentConfig, TrainConfig
from .data import Batches
from .excitation import GateRecorder, per_class_mask
from .step import autocast, sgd_step

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


def init_model(cfg: ExperimentConfig, seed: int) -> Backbone:
    """The run's network with its initial weights, which depend on its init seed alone."""
    torch.manual_seed(cfg.train.seeds(seed)[0])
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
    model: torch.nn.Module, batches: Batches, amp: bool, device: torch.device,
    fmt: torch.memory_format = torch.contiguous_format, gates: GateRecorder | None = None,
) -> dict[str, float]:
    """Validation loss and top-1/top-5 errors; ``gates`` records excitations on the way."""
    model.eval()
    loss = torch.zeros((), device=device)
    err1 = torch.zeros((), device=device, dtype=torch.long)
    err5 = torch.zeros((), device=device, dtype=torch.long)
    with torch.no_grad(), autocast(amp, device), gates or contextlib.nullcontext():
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


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)


@dataclass
class EpochTally:
    """A training epoch's running sums, kept on the device: the steps taken, their summed
    loss and misclassified images, the seconds spent and the learning rate at its start."""

    step: int
    loss_sum: torch.Tensor
    wrong: torch.Tensor
    seconds: float
    lr: float

    @classmethod
    def fresh(cls, lr: float, device: torch.device) -> EpochTally:
        return cls(0, torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long), 0.0, lr)

    @classmethod
    def from_saved(cls, saved: dict, device: torch.device) -> EpochTally:
        return cls(int(saved["step"]), torch.tensor(float(saved["loss_sum"]), device=device),
                   torch.tensor(int(saved["wrong"]), device=device, dtype=torch.long), float(saved["seconds"]),
                   float(saved["lr"]))

    def to_saved(self, seconds: float) -> dict:
        return {"step": self.step, "loss_sum": self.loss_sum.item(), "wrong": self.wrong.item(),
                "seconds": seconds, "lr": self.lr}


@dataclass
class Progress:
    """How far a run has come: the epochs done (with their metrics) and, when a stop came
    mid-epoch, the tally of the next epoch up to that step. What a checkpoint holds beside
    the model, optimiser and schedule."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    partial: dict | None = None  # EpochTally.to_saved() of epoch ``epoch``

    def tally(self, epoch: int, lr: float, device: torch.device) -> EpochTally:
        """Where ``epoch`` starts: from the stop inside it, or from its first step."""
        if epoch == self.epoch and self.partial and self.partial.get("step"):
            return EpochTally.from_saved(self.partial, device)
        return EpochTally.fresh(lr, device)


class Checkpoint:
    """A run's resumable state in one file, written after every epoch and at a stop."""

    KEYS = ("model", "optimizer", "scheduler", "history", "epoch")

    def __init__(self, path: Path | None, model: torch.nn.Module, opt: torch.optim.Optimizer,
                 sched: torch.optim.lr_scheduler.LRScheduler) -> None:
        self.path, self.model, self.opt, self.sched = path, model, opt, sched

    def save(self, progress: Progress) -> None:
        if self.path is not None:
            _save(self.path, {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                              "scheduler": self.sched.state_dict(), "history": progress.history,
                              "epoch": progress.epoch, "partial": progress.partial})

    def restore(self, device: torch.device) -> Progress:
        """Load the saved state into the model, optimiser and schedule; a fresh start when
        there is none, or when it cannot be read or does not fit the model (a file cut short
        by a full disk, a change to a user's own module): such a file is set aside, since
        every retry would otherwise fail the same way."""
        if self.path is None or not self.path.exists():
            return Progress()
        try:
            state = torch.load(self.path, map_location=device, weights_only=True)
            own, saved = self.model.state_dict(), state["model"]
            if own.keys() != saved.keys() or any(own[k].shape != saved[k].shape for k in own):
                raise ValueError("its weights do not fit this configuration's model")
            if lacking := set(self.KEYS) - state.keys():
                raise KeyError(f"no {', '.join(sorted(lacking))}")
        except Exception as err:
            aside = self.path.with_name(self.path.name + ".unreadable")
            os.replace(self.path, aside)
            print(f"checkpoint {self.path} cannot be resumed ({type(err).__name__}: {err}); set aside as "
                  f"{aside.name}, the run starts from epoch 0", file=sys.stderr, flush=True)
            return Progress()
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        return Progress(int(state["epoch"]), list(state["history"]), state.get("partial") or None)


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
    train_batches: Batches,
    test_batches: Batches,
    device: torch.device,
    checkpoint: Path | None = None,
    on_epoch: EpochCallback | None = None,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    model: Backbone | None = None,
) -> Outcome:
    """Train ``cfg`` with ``seed``; resumes from ``checkpoint`` when it holds earlier steps.

    ``should_stop`` is asked after every training step; when it says yes the checkpoint is
    saved at that step and :class:`Stopped` is raised. ``on_epoch`` is called once the
    epoch's checkpoint is saved (a stop may abandon it). The final evaluation also records
    the Section 7 statistics of an SE model (``EXCITATION_PER_CLASS`` test images per
    class, chosen by ``test_batches.labels``). ``model``: the network :func:`init_model`
    built for this config and seed, when the caller has it already.
    """
    tc = cfg.train
    model = model if model is not None else init_model(cfg, seed)
    model.to(device)
    fmt = memory_format(cfg, model, device)
    model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=tc.lr, momentum=tc.momentum,
                          nesterov=tc.nesterov and tc.momentum > 0, weight_decay=tc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule(tc, len(train_batches)))
    saved = Checkpoint(checkpoint, model, opt, sched)
    done = saved.restore(device)
    if on_epoch:
        for i, metrics in enumerate(done.history):
            on_epoch(i, metrics)
    gates = GateRecorder(model, per_class_mask(test_batches.labels, EXCITATION_PER_CLASS))
    step = _Stepper(model, _compiled(model, tc, fmt), opt, sched, tc, fmt, device, train_batches.batch_size)
    resumed_from = done.epoch
    _, order_seed, augment_seed = tc.seeds(seed)
    model.train()
    for epoch in range(done.epoch, tc.epochs):
        tally = done.tally(epoch, opt.param_groups[0]["lr"], device)
        t0 = time.perf_counter() - tally.seconds
        for x, y in train_batches.epoch(order_seed, epoch, tally.step, augment_seed):
            step(x, y, tally)
            if tally.step % CHECK_EVERY == 0 and not torch.isfinite(tally.loss_sum):
                raise NonFiniteLoss(f"non-finite training loss at epoch {epoch} step {tally.step - 1}")
            if progress:
                progress(1)
            if should_stop is not None and should_stop():
                done.partial = tally.to_saved(time.perf_counter() - t0)
                saved.save(done)
                raise Stopped(epoch, tally.step)
        synchronize(device)  # the epoch's steps are queued on a GPU until here
        train_time = time.perf_counter() - t0
        last = epoch == tc.epochs - 1
        metrics = {**_training_metrics(tally, train_batches.num_images, epoch),
                   **evaluate(model, test_batches, tc.amp, device, fmt, gates if last else None),
                   "images_per_s": train_batches.num_images / train_time}
        metrics["epoch_time_s"] = time.perf_counter() - t0
        done.history.append(metrics)
        done.epoch, done.partial = epoch + 1, None
        saved.save(done)
        if on_epoch:
            on_epoch(epoch, metrics)
        if should_stop is not None and should_stop() and not last:
            raise Stopped(epoch + 1, 0)
    # Nothing trained here (0 epochs, or a finished run resumed): one evaluation gives both.
    final = done.history[-1] if resumed_from < tc.epochs else evaluate(model, test_batches, tc.amp, device, fmt, gates)
    return Outcome(done.history, gates.stats(test_batches.classes), resumed_from,
                   {k: final[k] for k in ("val_loss", "val_top1_err", "val_top5_err")})


def _compiled(model: torch.nn.Module, tc: TrainConfig, fmt: torch.memory_format) -> Callable | None:
    """``train.compile``: the compiled forward, or None."""
    if not tc.compile:
        return None
    # Dynamo keeps at most 8 compiled versions of ResNet.forward per process
    # (recompile_limit); past that a sweep's later runs would silently train eager.
    torch._dynamo.reset()
    # Inductor would turn the convolutions channels_last on its own, narrow ones included,
    # where oneDNN hangs (MIN_CPU_CHANNELS_LAST); it keeps the layout chosen here instead.
    return torch.compile(model, options={"layout_optimization": fmt == torch.channels_last})


class _Stepper:
    """One SGD step on a batch, its loss and errors added to the epoch's tally."""

    def __init__(self, model: torch.nn.Module, compiled: Callable | None, opt: torch.optim.Optimizer,
                 sched: torch.optim.lr_scheduler.LRScheduler, tc: TrainConfig, fmt: torch.memory_format,
                 device: torch.device, batch_size: int) -> None:
        self.model, self.compiled, self.opt, self.sched = model, compiled, opt, sched
        self.tc, self.fmt, self.device, self.batch_size = tc, fmt, device, batch_size

    def __call__(self, x: torch.Tensor, y: torch.Tensor, tally: EpochTally) -> None:
        x = x.contiguous(memory_format=self.fmt)
        # An epoch's smaller last batch runs eager: a new shape would cost a second
        # compilation (about a minute for a ResNet-20 on the CPU) for one step.
        forward = self.compiled if self.compiled is not None and len(y) == self.batch_size else self.model
        loss, logits = sgd_step(forward, x, y, self.opt, self.tc.amp, self.device, self.tc.label_smoothing)
        self.sched.step()
        tally.loss_sum += loss.detach() * len(y)
        tally.wrong += (logits.detach().argmax(1) != y).sum()
        tally.step += 1


def _training_metrics(tally: EpochTally, n: int, epoch: int) -> dict[str, float]:
    """The epoch's training loss and error (the epoch's one read of the device's sums)."""
    total_loss = tally.loss_sum.item()
    if not math.isfinite(total_loss):
        raise NonFiniteLoss(f"non-finite training loss ({total_loss}) at epoch {epoch}")
    return {"train_loss": total_loss / n, "train_top1_err": 100.0 * tally.wrong.item() / n, "lr": tally.lr}
