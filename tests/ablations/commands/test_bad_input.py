"""Bad input: one clear line naming the key or path and the valid choices, exit code 2,
and nothing written (no run directory, no stores)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
import yaml

from ablations.cli import main
from tests.conftest import ROOT

BASE = yaml.safe_load((ROOT / "sweeps.yaml").read_text())


def _yaml_with(mutate):
    data = copy.deepcopy(BASE)
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


def _set(path, value):
    def mutate(data):
        node = data
        *head, last = path
        for key in head:
            node = node[key]
        node[last] = value
    return mutate


def _dup_rows(data):
    data["suites"]["paper"]["tables"][11]["rows"].append({"row": "Max", "set": {"model.se.squeeze": "max"}})


def _bad_reference(data):
    data["suites"]["paper"]["tables"][12]["reference"] = "Softmax"


CASES = [
    # id, yaml text (None: the real sweeps.yaml), extra argv, expected fragments
    ("malformed-yaml", "base: [1, 2\n", [], ["malformed YAML", "line"]),
    ("empty-yaml", "", [], ["the file is empty", "base, seeds, suites, presets"]),
    ("not-a-mapping", "- a\n- b\n", [], ["expected a mapping", "base, seeds, suites, presets"]),
    ("unknown-top-key", _yaml_with(lambda d: d.update(preset={})), [], ["unknown key 'preset'", "did you mean 'presets'"]),
    ("duplicate-key", "base: {}\nbase: {}\n", [], ["duplicate key 'base'", "line 2"]),
    ("unknown-nested-key", _yaml_with(_set(["base", "model", "se", "reduktion"], 4)), [],
     ["model.se.reduktion", "did you mean 'reduction'", "valid keys"]),
    ("wrong-type", _yaml_with(_set(["base", "model", "se", "reduction"], "eight")), [],
     ["model.se.reduction", "expected an integer"]),
    ("reduction-zero", None, ["--set", "model.se.reduction=0"], ["model.se", "reduction must be a positive integer"]),
    ("stages-outside-backbone", None, ["--set", "model.se.stages=[6]"], ["model.se.stages", "valid stages: [2, 3, 4, 5]"]),
    ("epochs-negative", None, ["--set", "train.epochs=-1"], ["train", "epochs must be >= 0"]),
    ("seeds-flag-zero", None, ["--seeds", "0"], ["--seeds", ">= 1"]),
    ("seeds-yaml-zero", _yaml_with(lambda d: d["presets"]["tiny"].update(seeds=0)), [], ["seeds", ">= 1"]),
    ("unknown-squeeze", None, ["--set", "model.se.squeeze=median"], ["model.se.squeeze", "valid choices: avg, max, none"]),
    ("unknown-gate", None, ["--set", "model.se.gate=softmax"], ["model.se.gate", "valid choices: sigmoid, tanh, relu"]),
    ("unknown-integration", None, ["--set", "model.se.integration=prefix"],
     ["model.se.integration", "valid choices: standard, pre, post, identity, inner"]),
    ("unknown-arch", None, ["--set", "model.arch=resnet51"], ["model.arch", "resnet51", "valid choices", "resnet50"]),
    ("unknown-dataset", None, ["--set", "data.name=mnist"], ["data.name", "valid choices: cifar10, cifar100, imagefolder, fake"]),
    ("unknown-suite", None, ["--suite", "papr"], ["unknown suite 'papr'", "did you mean 'paper'", "valid choices"]),
    ("unknown-preset", None, ["--preset", "tinny"], ["unknown preset 'tinny'", "did you mean 'tiny'"]),
    ("duplicate-row-label", _yaml_with(_dup_rows), [], ["suites.paper.tables.11", "duplicate row label 'Max'"]),
    ("unknown-reference-row", _yaml_with(_bad_reference), [],
     ["suites.paper.tables.12", "reference 'Softmax'", "rows: ReLU, Tanh, Sigmoid"]),
    ("unknown-mapping", None, ["--set", "model.se.mapping=fc2"],
     ["model.se.mapping", "valid choices: fc, none, channelwise, fc1, conv1d"]),
    ("reduction-without-fc", None, ["--suite", "eca", "--set", "model.se.reduction=8"],
     ["row 'SE-Var1'", "model.se.reduction is 8", "mapping 'none' has no use for it", "only 'fc'"]),
    ("bias-without-parameters", None, ["--suite", "eca", "--set", "model.se.bias=true"],
     ["row 'SE-Var1'", "model.se.bias is True", "mapping 'none' has no use for it"]),
    ("kernel-size-without-conv1d", None, ["--set", "model.se.kernel_size=3"],
     ["model.se.kernel_size is 3", "mapping 'fc'", "only 'conv1d'"]),
    ("even-kernel-size", None, ["--set", "model.se.mapping=conv1d", "--set", "model.se.kernel_size=4"],
     ["kernel_size must be 'auto' or a positive odd integer"]),
    ("module-does-not-import", None, ["--set", "model.se.module=no_such_pkg.attn:Mine"],
     ["model.se.module", "cannot import 'no_such_pkg.attn'", "ModuleNotFoundError"]),
    ("module-not-a-class", None, ["--set", "model.se.module=collections:OrderedDict"],
     ["model.se.module", "not a torch.nn.Module subclass"]),
    ("module-wrong-interface", None, ["--set", "model.se.module=torch.nn:Linear"],
     ["model.se.module", "Linear(channels, cfg) failed"]),
    ("unknown-module-name", None, ["--set", "model.se.module=cbam"],
     ["model.se.module", "unknown attention module 'cbam'", "valid choices: se", "package.module:Class"]),
    ("unknown-stem-pool", None, ["--set", "model.stem_pool=avg"], ["model.stem_pool", "valid choices: torchvision, caffe"]),
    ("unreadable-config", "MISSING", [], ["cannot read config file", "does-not-exist.yaml"]),
    ("storage-scheme", None, ["--storage", "redis://localhost:6379"], ["--storage", "unknown scheme 'redis'", "valid schemes"]),
    ("tracking-scheme-redacted", None, ["--tracking-uri", "ftp://alice:hunter2@host/x"],
     ["--tracking-uri", "unknown scheme 'ftp'", "alice:***@host"]),
    ("data-root-without-dataset", None, ["--data-root", "EMPTY"], ["data root", "no cifar10 found", "SENET_DATA_ROOT"]),
    ("threads-zero", None, ["--threads", "0"], ["--threads must be an integer >= 1, got 0"]),
    ("heartbeat-zero", None, ["--heartbeat-interval", "0"], ["--heartbeat-interval must be an integer >= 1"]),
    ("grace-shorter-than-beats", None, ["--heartbeat-interval", "30", "--grace-period", "40"],
     ["--grace-period must be at least twice --heartbeat-interval (30 s), got 40"]),
    ("study-escapes-its-folders", None, ["--study", "../elsewhere"], ["--study '../elsewhere'", "'..' part"]),
    ("set-without-equals", None, ["--set", "model.se.reduction"], ["--set", "expected KEY=VALUE"]),
    ("set-under-null", None, ["--set", "model.se=null", "--set", "model.se.reduction=4"], ["cannot set 'model.se.reduction'", "model.se is null"]),
    ("num-classes-mismatch", None, ["--set", "data.name=cifar100"], ["model.num_classes is 10", "cifar100", "100 classes"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, capsys, data_root):
    name, text, extra, fragments = case
    if text is None:
        config = ROOT / "sweeps.yaml"
    elif text == "MISSING":
        config = tmp_path / "does-not-exist.yaml"
    else:
        config = tmp_path / "sweeps.yaml"
        config.write_text(text)
    extra = [str(tmp_path / "empty") if a == "EMPTY" else a for a in extra]
    (tmp_path / "empty").mkdir()
    run_dir = tmp_path / "runs"
    argv = ["--config", str(config), "--preset", "tiny", "--run-dir", str(run_dir), "--data-root", str(data_root), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert "hunter2" not in err
    assert not run_dir.exists()
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "runs").exists()


def test_bad_input_from_the_real_command_line(tmp_path):
    """The script itself: exit code 2, one line on stderr, no traceback."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_sweep.py"), "--preset", "tiny", "--set", "model.se.gate=softmax",
         "--run-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert "valid choices: sigmoid, tanh, relu" in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_an_imagefolder_with_more_classes_than_outputs(tmp_path, capsys):
    """On a GPU the extra labels would be a device-side assert mid-run."""
    for split in ("train", "val"):
        for cls in ("a", "b", "c"):
            (tmp_path / "data" / "imnet" / split / cls).mkdir(parents=True)
    argv = ["--preset", "tiny", "--set", "data.name=imagefolder", "--set", "data.path=imnet", "--set", "model.num_classes=2",
            "--data-root", str(tmp_path / "data"), "--run-dir", str(tmp_path / "runs")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "model.num_classes is 2" in err and "has 3 class folders" in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a usable GPU")
def test_auto_device_refuses_the_cpu_where_gpus_were_handed_out(tmp_path, capsys, monkeypatch, data_root):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert main(["--preset", "tiny", "--data-root", str(data_root), "--run-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "CUDA_VISIBLE_DEVICES=2,3 but no GPU is usable" in err and "--device cpu" in err
    assert not (tmp_path / "runs").exists()


def test_a_worker_checks_its_runtime_flags_before_opening_a_store(tmp_path, capsys):
    run_dir = tmp_path / "runs"
    assert main(["worker", "--study", "s", "--run-dir", str(run_dir), "--heartbeat-interval", "5", "--grace-period", "6"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --grace-period must be at least twice --heartbeat-interval (5 s), got 6: " \
                  "a run whose worker is alive would be taken as lost\n"
    assert not run_dir.exists()


def test_a_worker_refuses_a_store_that_does_not_exist(tmp_path, capsys):
    run_dir = tmp_path / "runs"
    assert main(["worker", "--study", "s", "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --storage sqlite:///") and "optuna.db: no such file (queue the study first" in err
    assert not run_dir.exists()
