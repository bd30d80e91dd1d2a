from __future__ import annotations

import dataclasses

import pytest

from ablations.errors import ConfigError
from ablations.experiment.config import DataConfig, ExperimentConfig, TrainConfig, config_uid, params
from ablations.experiment.schema import parse
from senet_core import ModelConfig, SEConfig


def test_parse_nested_and_defaults():
    cfg = parse(ExperimentConfig, {"model": {"arch": "cifar_resnet20", "num_classes": 10, "se": {"stages": [1, 2]}}})
    assert cfg.model.se.stages == (1, 2)
    assert cfg.train == TrainConfig()


def test_null_section_means_no_se():
    cfg = parse(ExperimentConfig, {"model": {"se": None, "num_classes": 10}})
    assert cfg.model.se is None


@pytest.mark.parametrize("data,message", [
    ({"modle": {}}, "modle: unknown key (did you mean 'model'?)"),
    ({"model": {"se": {"reduktion": 4}}}, "model.se.reduktion: unknown key (did you mean 'reduction'?)"),
    ({"model": {"se": {"gate": "softmax"}}}, "model.se.gate: invalid choice 'softmax'; valid choices: sigmoid, tanh, relu"),
    ({"model": {"se": {"reduction": "8"}}}, "model.se.reduction: expected an integer"),
    ({"model": {"se": {"reduction": 0}}}, "model.se: reduction must be a positive integer"),
    ({"train": {"epochs": -1}}, "train: epochs must be >= 0"),
    ({"train": {"amp": "yes"}}, "train.amp: expected true/false"),
    ({"model": {"arch": "resnet5"}}, "unknown model.arch 'resnet5' (did you mean 'resnet50'?)"),
    ({"model": {"num_classes": 100}}, "model.num_classes is 100 but data.name 'cifar10' has 10 classes"),
    ({"model": {"arch": "cifar_resnet20", "se": {"stages": [5]}}}, "valid stages: [1, 2, 3]"),
])
def test_parse_errors_name_the_key(data, message):
    data.setdefault("model", {}).setdefault("num_classes", data["model"].get("num_classes", 10))
    with pytest.raises(ConfigError) as err:
        parse(ExperimentConfig, data)
    assert message in str(err.value)


def test_uid_ignores_speed_only_fields():
    base = ExperimentConfig(model=ModelConfig(num_classes=10))
    fast = dataclasses.replace(base, data=dataclasses.replace(base.data, workers=0, eval_batch_size=64),
                               train=dataclasses.replace(base.train, channels_last=False, compile=True))
    assert config_uid(base) == config_uid(fast)


@pytest.mark.parametrize("change", [
    lambda c: dataclasses.replace(c, model=dataclasses.replace(c.model, se=SEConfig(reduction=8))),
    lambda c: dataclasses.replace(c, model=dataclasses.replace(c.model, se=None)),
    lambda c: dataclasses.replace(c, model=dataclasses.replace(c.model, width=0.5)),
    lambda c: dataclasses.replace(c, data=DataConfig(train_size=100)),
    lambda c: dataclasses.replace(c, train=dataclasses.replace(c.train, lr=0.2)),
    lambda c: dataclasses.replace(c, train=dataclasses.replace(c.train, epochs=2)),
])
def test_uid_changes_with_any_experiment_field(change):
    base = ExperimentConfig(model=ModelConfig(num_classes=10))
    assert config_uid(change(base)) != config_uid(base)


def test_params_are_the_dotted_yaml_keys():
    flat = params(ExperimentConfig(model=ModelConfig(num_classes=10)))
    assert flat["model.se.reduction"] == 16
    assert flat["train.lr"] == 0.1
    assert flat["data.name"] == "cifar10"
