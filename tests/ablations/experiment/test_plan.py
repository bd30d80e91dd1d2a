from __future__ import annotations

import json

import pytest

from ablations.cli import main
from ablations.errors import ConfigError
from ablations.experiment.plan import make_plan
from ablations.experiment.sweepfile import load_yaml, resolve
from tests.conftest import ROOT

SWEEPS = ROOT / "sweeps.yaml"


def test_paper_suite_plan():
    plan = make_plan(resolve(load_yaml(SWEEPS), "paper", "tiny", seeds=3))
    assert len(plan.cells) == 25
    assert len(plan.configs) == 17
    assert len(plan.runs) == 51
    uid = {(c.table, c.row): c.config_uid for c in plan.cells}
    se = {uid[(10, "16")], uid[(11, "Avg")], uid[(12, "Sigmoid")], uid[(13, "SE_All")],
          uid[(14, "SE")], uid[(15, "SE")], uid[(16, "SE")]}
    assert len(se) == 1
    assert uid[(10, "original")] == uid[(13, "ResNet-50")] == uid[(16, "ResNet-50")]
    assert len({uid[(10, r)] for r in ("2", "4", "8", "16", "32")}) == 5


def test_compile_on_the_cpu_is_announced():
    from ablations.commands.launch import cpu_compile_warning

    plain = make_plan(resolve(load_yaml(SWEEPS), "paper", "tiny"))
    compiled = make_plan(resolve(load_yaml(SWEEPS), "paper", "tiny", sets={"train.compile": True}))
    assert cpu_compile_warning(plain, "cpu") is None
    assert cpu_compile_warning(compiled, "cuda") is None
    assert "train.compile" in cpu_compile_warning(compiled, "cpu")


def test_dry_run_json(capsys):
    assert main(["--suite", "paper", "--preset", "tiny", "--seeds", "3", "--dry-run", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["rows"]) == 25
    assert len({r["config_uid"] for r in out["rows"]}) == 17
    assert len(out["runs"]) == 51
    assert {r["seed"] for r in out["runs"]} == {0, 1, 2}


def test_set_override_applies_before_rows():
    data = load_yaml(SWEEPS)
    plan = make_plan(resolve(data, "paper", "tiny", sets={"train.epochs": 2, "model.se.gate": "tanh"}))
    cfgs = {(c.table, c.row): plan.configs[c.config_uid] for c in plan.cells}
    assert all(c.train.epochs == 2 for c in cfgs.values())
    assert cfgs[(10, "16")].model.se.gate == "tanh"  # rows do not set the gate
    assert cfgs[(12, "Sigmoid")].model.se.gate == "sigmoid"  # ...unless they vary it


def test_cifar_depth_picks_the_table_of_the_dataset():
    data = load_yaml(SWEEPS)
    assert [t.number for t in resolve(data, "cifar_depth", "tiny").tables] == [4]
    assert [t.number for t in resolve(data, "cifar_depth", "cifar100").tables] == [5]
    plan = make_plan(resolve(data, "cifar_depth", "cifar10"))
    archs = sorted({c.model.arch for c in plan.configs.values()})
    assert archs == ["cifar_resnet110", "cifar_resnet164"] and len(plan.configs) == 4


@pytest.mark.parametrize("preset", list(load_yaml(SWEEPS)["presets"]))
@pytest.mark.parametrize("suite", list(load_yaml(SWEEPS)["suites"]))
def test_every_suite_resolves_under_every_preset(suite, preset):
    try:
        sweep = resolve(load_yaml(SWEEPS), suite, preset)
    except ConfigError as err:  # a CIFAR-only suite under the ImageNet preset
        assert suite == "cifar_depth" and preset == "imagenet" and "no table applies" in str(err)
        return
    assert sweep.tables and all(t.rows for t in sweep.tables)


def test_dry_run_text_names_shared_runs(capsys, data_root):
    assert main(["--suite", "paper", "--preset", "tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "25 rows -> 17 configurations -> 17 runs" in out
    avg = next(line for line in out.splitlines() if line.split()[:2] == ["11", "Avg"])
    assert "same run as T10 16" in avg
    r16 = next(line for line in out.splitlines() if line.split()[:2] == ["10", "16"])
    assert "trained once for 7 rows" in r16 and "0.415" in r16  # params of the width-1/8 model
    assert "estimated total" in out
