"""One launcher interface: every registered launcher implements it, the launch command knows
only the interface and its registry, and the SLURM launcher's dry run is submitit's own script
without submitit's private API."""

from __future__ import annotations

import argparse
import ast
import inspect

import pytest

from ablations import launchers
from ablations.launchers import LAUNCHERS, InProcess, Launcher, LocalProcesses, Slurm, WorkerEntry, choose
from ablations.launchers.slurm import SlurmOptions, sbatch_script
from ablations.runtime.settings import make_settings
from tests.conftest import ROOT

ENTRY = WorkerEntry(("python", "-m", "worker"), lambda argv: 0)


def test_the_three_launchers_implement_the_interface():
    for cls in (InProcess, LocalProcesses, Slurm):
        assert issubclass(cls, Launcher) and not inspect.isabstract(cls), cls
    assert set(LAUNCHERS) == {"local", "slurm"}


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"launcher": "local", "workers": 1, **kw})


def test_the_launcher_is_chosen_in_one_place_by_launcher_and_workers(tmp_path):
    settings = make_settings("s", run_dir=tmp_path / "runs")
    assert type(choose(_args(workers=1), settings, ENTRY)) is InProcess
    assert type(choose(_args(workers=3), settings, ENTRY)) is LocalProcesses
    queue_only = choose(_args(workers=0), settings, ENTRY)
    assert type(queue_only) is LocalProcesses and not queue_only.trains
    assert "3 local worker processes" in choose(_args(workers=3), settings, ENTRY).describe()
    from ablations.errors import ConfigError

    with pytest.raises(ConfigError, match="--workers must be >= 0"):
        choose(_args(workers=-1), settings, ENTRY)


def test_the_launch_command_imports_no_launcher_module():
    tree = ast.parse((ROOT / "ablations" / "commands" / "launch.py").read_text())
    froms = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    modules = {n.module for n in froms}
    assert "launchers" in modules  # the interface and its registry
    assert not [m for m in modules if m.startswith("launchers.")], modules
    names = {a.name for n in froms if n.module == "launchers" for a in n.names}
    assert not names & {"local", "slurm", "inprocess", "base"}, names


def test_no_private_submitit_api_and_no_lasting_environment_change(monkeypatch):
    source = inspect.getsource(launchers.slurm)
    assert "._make" not in source and "_submitit_command_str" not in source
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    script = sbatch_script(SlurmOptions(setup=("module load cuda",)), ROOT / "runs" / "slurm", 3, "study")
    assert "#SBATCH --array=0-2%3" in script and "module load cuda" in script
    assert "#SBATCH --job-name=study" in script and str(ROOT / "runs" / "slurm") in script
    import os

    assert os.environ["PATH"] == "/usr/bin:/bin"  # as it was
