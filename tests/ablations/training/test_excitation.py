"""The gates recorded during an evaluation pass are those of the chosen images (Figs. 6-7)."""

from __future__ import annotations

import torch

from ablations.experiment.config import DataConfig
from ablations.training.data import TensorBatches, load_split
from ablations.training.excitation import GateRecorder, per_class_mask
from ablations.training.trainer import evaluate
from senet_core import ModelConfig, SEConfig, build_model

CPU = torch.device("cpu")


def test_per_class_mask_takes_the_first_images_of_each_class():
    labels = torch.tensor([2, 0, 2, 1, 2, 0, 1])
    assert per_class_mask(labels, 2).tolist() == [True, True, True, True, False, True, True]


def test_recorded_gates_match_a_direct_pass_over_the_chosen_images(tmp_path):
    torch.manual_seed(0)
    cfg = DataConfig(name="fake", test_size=64)
    split = load_split(cfg, tmp_path, False)
    model = build_model(ModelConfig(arch="cifar_resnet20", num_classes=10, width=0.5,
                                    se=SEConfig(reduction=4, bias=True))).eval()
    keep = per_class_mask(split.labels, 3)
    batches = TensorBatches(split, cfg, 24, CPU, False)  # batches cut across the chosen images
    gates = GateRecorder(model, keep)
    evaluate(model, batches, False, CPU, gates=gates)
    stats = gates.stats(split.classes)

    block = model.attention_blocks()[3][-1]
    seen = []
    hook = block.gate.register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        model.eval()(batches.normalize(split.images[keep]))
    hook.remove()
    labels = split.labels[keep]
    for c in (0, 7):
        expected = seen[0][labels == c].mean(0)
        got = stats["stages"]["3"]["per_class"][split.classes[c]]
        assert got["n"] == 3
        torch.testing.assert_close(torch.tensor(got["mean"]), expected, atol=1e-5, rtol=0)
    assert stats["stages"]["3"]["all"]["n"] == 30
