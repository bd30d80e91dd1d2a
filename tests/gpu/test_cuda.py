"""The GPU path on a GPU (skipped without one): bf16 + channels_last training, resuming,
train.compile, the excitation statistics, and two workers sharing one GPU through the
launcher. Run by tools/gpu/check.sh on the device machine."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
import torch

from ablations.experiment.config import DataConfig, ExperimentConfig, TrainConfig
from ablations.training.data import TensorBatches, load_split
from ablations.training.trainer import Stopped, train
from senet_core import ModelConfig
from tests.conftest import ROOT, paper_tables

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")]
CUDA = torch.device("cuda")
# bf16 autocast and cuDNN's autotuned kernels: a resumed run is close to, not equal to, the
# uninterrupted one. Tolerance: 2 points of top-1 error and 5% of the validation loss.
RESUME_TOP1_POINTS, RESUME_LOSS_REL = 2.0, 0.05


def _cifar(data_root, compile_=False, epochs=2):
    cfg = ExperimentConfig(
        model=ModelConfig(arch="cifar_resnet50", num_classes=10, width=1.0),
        data=DataConfig(name="cifar10", train_size=2560, test_size=1000, batch_size=128),
        train=TrainConfig(epochs=epochs, lr=0.1, amp=True, channels_last=True, compile=compile_, warmup_epochs=0.5),
    )
    tr, te = (load_split(cfg.data, data_root, t) for t in (True, False))
    return cfg, TensorBatches(tr, cfg.data, 128, CUDA, True), TensorBatches(te, cfg.data, 500, CUDA, False)


def test_bf16_channels_last_training_is_finite_and_records_excitations(data_root, tmp_path):
    torch.backends.cudnn.benchmark = True
    cfg, tr, te = _cifar(data_root)
    out = train(cfg, 0, tr, te, CUDA, tmp_path / "run.pt")
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in out.history)
    assert out.history[-1]["train_loss"] < out.history[0]["train_loss"] * 1.5
    assert set(out.excitation["stages"]) == {"2", "3", "4", "5"}
    assert out.excitation["stages"]["5"]["channels"] == 2048


def test_a_run_stopped_mid_epoch_resumes_close_to_the_uninterrupted_one(data_root, tmp_path):
    cfg, tr, te = _cifar(data_root)
    full = train(cfg, 0, tr, te, CUDA, tmp_path / "full.pt")
    asked = [0]

    def stop_in_epoch_two() -> bool:
        asked[0] += 1
        return asked[0] == len(tr) + 5  # epoch 1, step 4

    with pytest.raises(Stopped):
        train(cfg, 0, tr, te, CUDA, tmp_path / "stopped.pt", should_stop=stop_in_epoch_two)
    resumed = train(cfg, 0, tr, te, CUDA, tmp_path / "stopped.pt")
    assert resumed.resumed_from == 1
    assert abs(resumed.final["val_top1_err"] - full.final["val_top1_err"]) <= RESUME_TOP1_POINTS
    assert abs(resumed.final["val_loss"] - full.final["val_loss"]) <= RESUME_LOSS_REL * full.final["val_loss"]


def test_compiled_training_trains(data_root):
    cfg, tr, te = _cifar(data_root, compile_=True, epochs=1)
    out = train(cfg, 0, tr, te, CUDA)
    assert torch.isfinite(torch.tensor(out.history[0]["train_loss"]))


def test_two_workers_share_one_gpu_and_train_each_run_once(tmp_path, data_root, cache_dir):
    from mlflow.tracking import MlflowClient

    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--study", "share", "--workers", "2",
           "--device", "cuda", "--run-dir", str(tmp_path / "runs"), "--data-root", str(data_root), "--no-progress",
           *paper_tables(tmp_path, 10, 12)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "SENET_CACHE_DIR": str(cache_dir), "CUDA_VISIBLE_DEVICES": "0"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "8/8 runs finished, 0 failed" in proc.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("share")
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")
    finished = Counter(r.data.tags["config_uid"] for r in runs if r.info.status == "FINISHED")
    assert len(finished) == 8 and set(finished.values()) == {1}
    assert {r.data.tags["device"] for r in runs} == {torch.cuda.get_device_name(0)}
