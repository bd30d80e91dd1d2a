"""One seed per source of randomness (train.seed_init / seed_order / seed_augment, --vary):
fixing all but one moves only that one, and leaving them all to the run's seed is the one
stream runs have always had."""

from __future__ import annotations

import json

import pytest
import torch

from ablations.cli import main
from ablations.experiment.config import DataConfig, ExperimentConfig, TrainConfig
from ablations.training.data import TensorBatches, load_split
from ablations.training.trainer import init_model
from report.__main__ import main as report
from senet_core import ModelConfig, build_model
from tests.conftest import fake_sweep

CPU = torch.device("cpu")


def _cfg(**seeds) -> ExperimentConfig:
    return ExperimentConfig(model=ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.25),
                            data=DataConfig(name="fake", train_size=64, test_size=32, batch_size=16),
                            train=TrainConfig(**seeds))


def _run(cfg: ExperimentConfig, seed: int, tmp_path) -> tuple[dict, list[torch.Tensor], list[torch.Tensor]]:
    """A run's initial weights, and its first epoch's labels and images."""
    batches = TensorBatches(load_split(cfg.data, tmp_path, True), cfg.data, 16, CPU, True)
    _, order, augment = cfg.train.seeds(seed)
    epoch = list(batches.epoch(order, 0, 0, augment))
    return init_model(cfg, seed).state_dict(), [y for _, y in epoch], [x for x, _ in epoch]


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return all(torch.equal(a[k], b[k]) for k in a)
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(("fixed", "moves"), [
    ({"seed_init": 0, "seed_augment": 0}, "order"),
    ({"seed_order": 0, "seed_augment": 0}, "init"),
    ({"seed_init": 0, "seed_order": 0}, "augment"),
])
def test_fixing_the_other_seeds_moves_only_one_source(tmp_path, fixed, moves):
    cfg = _cfg(**fixed)
    (w1, y1, x1), (w2, y2, x2) = _run(cfg, 1, tmp_path), _run(cfg, 2, tmp_path)
    assert _same(w1, w2) == (moves != "init")  # initial weights bit-identical unless init varies
    assert _same(y1, y2) == (moves != "order")  # the batch order likewise
    assert _same(x1, x2) == (moves == "init")  # the images differ by order or augmentation


def test_the_default_is_the_one_stream_runs_always_had(tmp_path):
    cfg = _cfg()
    batches = TensorBatches(load_split(cfg.data, tmp_path, True), cfg.data, 16, CPU, True)
    _, y, x = _run(cfg, 3, tmp_path)
    legacy = list(batches.epoch(3, 0))  # the order's stream draws the augmentation too
    assert _same(x, [b for b, _ in legacy]) and _same(y, [b for _, b in legacy])
    assert cfg.train.seeds(3) == (3, 3, None)
    ours = init_model(cfg, 3).state_dict()
    torch.manual_seed(3)  # what the initial weights have always come from: the run's seed
    assert _same(ours, build_model(cfg.model).state_dict())


def test_vary_studies_and_their_noise_table(tmp_path, capsys):
    table = {"reference": "ref", "rows": [{"row": "ref", "set": {}}, {"row": "other", "set": {"train.lr": 0.01}}]}
    sweep = [*fake_sweep(tmp_path, table), "--run-dir", str(tmp_path / "runs"), "--seeds", "2", "--no-progress"]
    for vary in ("order", "init"):
        assert main([*sweep, "--vary", vary]) == 0
    out = capsys.readouterr().out
    assert "study 's-p-vary-order'" in out and "study 's-p-vary-init'" in out  # each its own study by default
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    assert report(["noise", "--study", "s-p-vary-order", "--study", "s-p-vary-init", "--tracking-uri", uri,
                   "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["varied"], r["row"], r["n"]) for r in rows] == [("order", "ref", 2), ("init", "ref", 2)]
    assert all(r["std"] is not None and r["std"] >= 0 for r in rows)
