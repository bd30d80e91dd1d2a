"""The decoded-image cache: written once, read by later runs, rebuilt when unreadable."""

from __future__ import annotations

import torch

from ablations.experiment.config import DataConfig
from ablations.training.data import load_split


def test_an_unreadable_cache_is_decoded_again(data_root, tmp_path, capsys):
    cfg = DataConfig(name="cifar10", train_size=100, test_size=50)
    first = load_split(cfg, data_root, False, tmp_path)
    (cached,) = tmp_path.glob("cifar10-test-50-*.pt")
    cached.write_bytes(cached.read_bytes()[:500])  # cut short, as by a full disk or a crash
    again = load_split(cfg, data_root, False, tmp_path)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert "unreadable" in capsys.readouterr().err
    assert torch.load(cached, weights_only=True)["labels"].shape == (50,)  # rewritten whole
