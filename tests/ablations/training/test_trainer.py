from __future__ import annotations

import dataclasses

import pytest
import torch

from ablations.experiment.config import DataConfig, ExperimentConfig, TrainConfig
from ablations.training.data import TensorBatches, load_split
from ablations.training.trainer import NonFiniteLoss, Stopped, finish_checkpoint, init_model, train
from senet_core import ModelConfig, SEConfig

CPU = torch.device("cpu")


def _setup(tmp_path, **train_kw):
    cfg = ExperimentConfig(
        model=ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.25),
        data=DataConfig(name="fake", train_size=128, test_size=64, batch_size=32),
        train=TrainConfig(epochs=3, lr=0.05, **train_kw),
    )
    tr, te = (load_split(cfg.data, tmp_path, t) for t in (True, False))
    return cfg, TensorBatches(tr, cfg.data, 32, CPU, True), TensorBatches(te, cfg.data, 64, CPU, False), te


class Stop(Exception):
    pass


def _stop_after_first(epoch, metrics):
    if epoch == 0:
        raise Stop


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    cfg, tr, te, _ = _setup(tmp_path)
    full = train(cfg, 3, tr, te, CPU, tmp_path / "full.pt")
    ckpt = tmp_path / "resumed.pt"
    with pytest.raises(Stop):
        train(cfg, 3, tr, te, CPU, ckpt, on_epoch=_stop_after_first)
    logged = []
    resumed = train(cfg, 3, tr, te, CPU, ckpt, on_epoch=lambda e, m: logged.append(e))
    assert resumed.resumed_from == 1
    assert logged == [0, 1, 2]  # earlier epochs are re-logged for the new tracking run
    assert resumed.final == full.final
    for a, b in zip(resumed.history, full.history, strict=True):
        assert a["train_loss"] == b["train_loss"]


@pytest.mark.parametrize("damage", ["cut-short", "other-model"])
def test_a_checkpoint_that_cannot_be_resumed_is_set_aside_and_the_run_starts_afresh(damage, tmp_path, capsys):
    cfg, tr, te, _ = _setup(tmp_path)
    fresh = train(cfg, 3, tr, te, CPU)
    ckpt = tmp_path / "run.pt"
    if damage == "cut-short":
        train(cfg, 3, tr, te, CPU, ckpt)
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    else:
        other = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, width=0.5))
        with pytest.raises(Stop):
            train(other, 3, tr, te, CPU, ckpt, on_epoch=_stop_after_first)
    outcome = train(cfg, 3, tr, te, CPU, ckpt)
    assert outcome.resumed_from == 0 and outcome.final == fresh.final
    assert (tmp_path / "run.pt.unreadable").exists()
    assert "cannot be resumed" in capsys.readouterr().err


@pytest.mark.parametrize("keep", ["weights", "full", "none"])
def test_what_stays_of_a_finished_runs_checkpoint(keep, tmp_path):
    cfg, tr, te, _ = _setup(tmp_path)
    ckpt = tmp_path / "run.pt"
    train(cfg, 3, tr, te, CPU, ckpt)
    full_size = ckpt.stat().st_size
    finish_checkpoint(ckpt, keep)
    weights = tmp_path / "run.weights.pt"
    assert ckpt.exists() == (keep == "full") and weights.exists() == (keep == "weights")
    if keep == "weights":
        model = init_model(cfg, 0)
        model.load_state_dict(torch.load(weights, weights_only=True))  # a plain state_dict
        assert weights.stat().st_size < 0.7 * full_size  # the optimizer's momentum is gone


def test_different_seeds_differ(tmp_path):
    cfg, tr, te, _ = _setup(tmp_path)
    a = train(cfg, 0, tr, te, CPU)
    b = train(cfg, 1, tr, te, CPU)
    assert a.history[0]["train_loss"] != b.history[0]["train_loss"]


def test_compiled_training_compiles_once_keeps_the_layout_and_runs_the_last_batch_eager(tmp_path, monkeypatch):
    from torch._dynamo.testing import CompileCounter

    import ablations.training.trainer as trainer

    counter = CompileCounter()  # dynamo traces as torch.compile does; no inductor build
    options = []
    real_compile = torch.compile

    def compile_(model, **kw):
        options.append(kw.pop("options"))
        return real_compile(model, backend=counter, **kw)

    monkeypatch.setattr(trainer.torch, "compile", compile_)
    cfg = ExperimentConfig(
        model=ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.25),
        data=DataConfig(name="fake", train_size=80, test_size=32, batch_size=32),  # batches of 32, 32, 16
        train=TrainConfig(epochs=2, lr=0.05, compile=True),
    )
    tr, te = (load_split(cfg.data, tmp_path, t) for t in (True, False))
    torch._dynamo.reset()
    out = train(cfg, 0, TensorBatches(tr, cfg.data, 32, CPU, True), TensorBatches(te, cfg.data, 32, CPU, False), CPU)
    assert counter.frame_count == 1
    # Width 1/4 has 4-channel convolutions: no channels_last, from the trainer or from inductor.
    assert options == [{"layout_optimization": False}]
    assert len(out.history) == 2 and all(torch.isfinite(torch.tensor(h["train_loss"])) for h in out.history)


def test_nan_loss_fails_with_a_reason(tmp_path):
    cfg, tr, te, _ = _setup(tmp_path, momentum=0.0)
    cfg = ExperimentConfig(cfg.model, cfg.data, TrainConfig(epochs=1, lr=1e30))
    with pytest.raises(NonFiniteLoss, match="non-finite training loss"):
        train(cfg, 0, tr, te, CPU)


def test_excitation_statistics(tmp_path):
    cfg, tr, te, _ = _setup(tmp_path)
    out = train(cfg, 0, tr, te, CPU, tmp_path / "run.pt")
    assert set(out.excitation["stages"]) == {"1", "2", "3"}
    stage3 = out.excitation["stages"]["3"]
    assert stage3["channels"] == 16
    assert len(stage3["per_class"]) == 10
    cls = stage3["per_class"]["class0"]
    assert cls["n"] == 7 and len(cls["mean"]) == 16  # 64 fake images, labels i % 10
    assert all(0 <= v <= 1 for v in cls["mean"])
    # A run resumed after its last epoch still reports them, from one evaluation pass.
    again = train(cfg, 0, tr, te, CPU, tmp_path / "run.pt")
    assert again.resumed_from == cfg.train.epochs
    assert again.excitation == out.excitation


def test_stop_mid_epoch_saves_and_resumes_to_the_same_result(tmp_path):
    """Ctrl-C/SIGTERM stop a run after the current step; the checkpoint holds that step."""
    cfg, tr, te, _ = _setup(tmp_path)  # 4 steps per epoch, 3 epochs
    full = train(cfg, 3, tr, te, CPU, tmp_path / "full.pt")
    asked = [0]

    def stop_at_sixth_question() -> bool:  # asked after each of 4 steps and at the epoch's end
        asked[0] += 1
        return asked[0] == 6

    ckpt = tmp_path / "stopped.pt"
    with pytest.raises(Stopped) as stop:
        train(cfg, 3, tr, te, CPU, ckpt, should_stop=stop_at_sixth_question)
    assert (stop.value.epoch, stop.value.step) == (1, 1)
    assert torch.load(ckpt, weights_only=True)["partial"]["step"] == 1
    resumed = train(cfg, 3, tr, te, CPU, ckpt)
    assert resumed.resumed_from == 1
    assert resumed.final == full.final
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert [h["train_top1_err"] for h in resumed.history] == [h["train_top1_err"] for h in full.history]


def test_a_sweep_of_more_configurations_than_the_recompile_limit_compiles_every_run(tmp_path, monkeypatch):
    """Dynamo keeps 8 compiled versions of a function per process (recompile_limit): without
    a reset between runs, a one-process sweep's 9th configuration on would train eager. Seen
    here with the limit lowered to 2 and 3 configurations (the same code path, 3x faster)."""
    from torch._dynamo.testing import CompileCounter

    import ablations.training.trainer as trainer

    counter = CompileCounter()
    real_compile = torch.compile
    monkeypatch.setattr(trainer.torch, "compile", lambda model, **kw: real_compile(model, backend=counter))
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 2)
    torch._dynamo.reset()
    for i in range(3):
        cfg = ExperimentConfig(
            model=ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.25,
                              se=None if i == 0 else SEConfig(reduction=2 * i)),
            data=DataConfig(name="fake", train_size=32, test_size=32, batch_size=32),
            train=TrainConfig(epochs=1, lr=0.05, compile=True),
        )
        tr, te = (load_split(cfg.data, tmp_path, t) for t in (True, False))
        train(cfg, 0, TensorBatches(tr, cfg.data, 32, CPU, True), TensorBatches(te, cfg.data, 32, CPU, False), CPU)
    assert counter.frame_count == 3


def test_the_epoch_clock_is_read_after_the_device_finished(tmp_path, monkeypatch):
    """On a GPU the steps are queued: images_per_s must be timed after a synchronisation."""
    import ablations.training.trainer as trainer

    events = []
    monkeypatch.setattr(trainer, "synchronize", lambda device: events.append("sync"))
    real_perf = trainer.time.perf_counter
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: events.append("clock") or real_perf())
    cfg, tr, te, _ = _setup(tmp_path)
    train(cfg, 0, tr, te, CPU)
    # each epoch: the start clock, then the sync right before the clock that ends the training time
    assert events.count("sync") == cfg.train.epochs
    assert all(events[i + 1] == "clock" for i, e in enumerate(events) if e == "sync")


@pytest.mark.parametrize(("arch", "integration"), [("cifar_mobilenet_v2", "inner"), ("cifar_resnet18", "standard")])
def test_the_other_backbones_train_and_record_their_excitations(tmp_path, arch, integration):
    cfg, tr, te, _ = _setup(tmp_path)
    cfg = dataclasses.replace(cfg, model=ModelConfig(arch=arch, num_classes=10, width=0.25,
                                                     se=SEConfig(integration=integration, reduction=4)),
                              train=dataclasses.replace(cfg.train, epochs=1))
    outcome = train(cfg, 0, tr, te, CPU)
    assert torch.isfinite(torch.tensor(outcome.history[0]["train_loss"]))
    stages = {1, 2, 3, 4, 5, 6, 7} if arch == "cifar_mobilenet_v2" else {2, 3, 4, 5}
    assert set(map(int, outcome.excitation["stages"])) == stages
