"""Two worker processes claiming trials of one study on the default SQLite storage: each trial
goes to exactly one of them (the claim is a WAITING -> RUNNING transition)."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna

from tests.conftest import ROOT

CLAIMER = """
import sys, time
from optuna.trial import TrialState
from ablations.engine import make_storage, open_study
from ablations.runtime.settings import make_settings

settings = make_settings("race", storage=sys.argv[1])
storage = make_storage(settings)
study = open_study(settings, storage, create=False)
study_id = storage.get_study_id_from_name("race")
while time.time() < float(sys.argv[2]):
    time.sleep(0.001)
won = []
while waiting := study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
    for t in waiting:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                won.append(t.number)
                break
        except RuntimeError:  # finished meanwhile
            continue
print(" ".join(map(str, won)))
"""


def test_two_processes_never_claim_the_same_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="race", storage=url)
    for _ in range(150):
        study.enqueue_trial({})
    start = time.time() + 8  # both past their imports, then they race
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, url, str(start)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    a, b = (set(out.split()) for out, _ in outs)
    assert not a & b, f"claimed by both: {sorted(a & b, key=int)}"
    assert len(a | b) == 150
