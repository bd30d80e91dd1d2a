"""``config_uid`` is a promise: users' finished runs are keyed by it, so no configuration that
existed in the first release may change uid. ``config_uids.json`` was written by
:func:`release_uids` on the first release (commit 6e8f252): every row of every suite under
every preset of its sweeps.yaml, alone and with common ``--set`` overrides."""

from __future__ import annotations

import json
from pathlib import Path

from ablations.errors import ConfigError
from ablations.experiment.config import config_uid
from ablations.experiment.sweepfile import load_yaml, resolve
from tests.conftest import ROOT

VARIANTS = {
    "": {},
    "bias": {"model.se.bias": True},
    "min_hidden2": {"model.se.min_hidden": 2},
    "amp": {"train.amp": True},
    "torchvision_stride": {"model.stride_in_1x1": False},
    "r8_tanh_max": {"model.se.reduction": 8, "model.se.gate": "tanh", "model.se.squeeze": "max"},
    "nesterov_ls": {"train.nesterov": True, "train.label_smoothing": 0.1},
}
FIRST_RELEASE = Path(__file__).parent / "config_uids.json"


def release_uids(sweeps: Path, suites: list[str] | None = None) -> dict[str, str]:
    """``suite/preset[+variant]/T<table>/<row>`` -> config_uid, for the suites of ``sweeps``."""
    data = load_yaml(sweeps)
    out = {}
    for suite in suites or list(data["suites"]):
        for preset in data["presets"]:
            for name, sets in VARIANTS.items():
                try:
                    sweep = resolve(data, suite, preset, sets)
                except ConfigError:  # e.g. a CIFAR-only suite under the ImageNet preset
                    continue
                for table in sweep.tables:
                    for row in table.rows:
                        out[f"{suite}/{preset}{'+' + name if name else ''}/T{table.number}/{row.label}"] = config_uid(row.config)
    return out


def test_every_first_release_configuration_keeps_its_uid():
    expected = json.loads(FIRST_RELEASE.read_text())
    suites = sorted({key.split("/")[0] for key in expected})
    now = release_uids(ROOT / "sweeps.yaml", suites)
    assert len(expected) == 987
    changed = {k: (v, now.get(k)) for k, v in expected.items() if now.get(k) != v}
    assert not changed, f"{len(changed)} configurations changed uid, e.g. {next(iter(changed.items()))}"
