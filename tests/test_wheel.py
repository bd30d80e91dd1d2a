"""What ``pip install`` gives a user: a wheel built from the source, installed non-editable
into a fresh virtual environment (which sees the project venv's dependencies but not its
editable install), runs the tiny dry run and the report's help from an empty folder,
importing nothing from the checkout; and the local path (launch, worker, report) runs without
submitit and psycopg, which the GPU check's machine lacks (tools/gpu/present.txt) and does
not carry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import ROOT

GPU_MACHINE_LACKS = ("submitit", "psycopg")
# Run inside the installed copy: the commands' own entry points, then where every module of
# ours came from.
PROBE = f"""
import contextlib, io, json, sys
sys.modules.update(dict.fromkeys({GPU_MACHINE_LACKS!r}))  # None: importing them raises ImportError
import ablations.commands.worker, ablations.commands.launch, ablations.launchers.local, report.study
from ablations.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(["--suite", "paper", "--preset", "tiny", "--dry-run", "--format", "json"])
ours = {{name: getattr(m, "__file__", None) or "" for name, m in sys.modules.items()
        if m is not None and name.split(".")[0] in ("ablations", "report", "senet_core")}}
print(json.dumps({{"code": code, "plan": json.loads(out.getvalue()), "files": ours}}))
"""


def _source_tree(dest: Path) -> Path:
    """The files git tracks or would (or, outside git, the tree less what is built or generated):
    a wheel built in the checkout would pick up a stale build/ folder."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            src, dst = ROOT / name, dest / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                dst.symlink_to(src.readlink())
            elif src.is_file():
                shutil.copy2(src, dst)
        return dest
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "runs", "reports", ".gpu", "__pycache__")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return dest


def test_the_wheel_installs_and_runs_from_an_empty_folder(tmp_path):
    source = _source_tree(tmp_path / "source")
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(wheels.glob("senet_ablations-*.whl"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies, not the project: a .pth line adds the project venv's site-packages
    # to the path without running the .pth files there (the editable install is one).
    (site / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", "--quiet", str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    sweep = subprocess.run([venv / "bin" / "senet-sweep", "--suite", "paper", "--preset", "tiny", "--dry-run",
                            "--format", "json"], cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    plan = json.loads(sweep.stdout)
    assert len(plan["rows"]) == 25 and len(plan["runs"]) == 17  # the packaged sweeps.yaml's paper suite
    helped = subprocess.run([venv / "bin" / "senet-report", "--help"], cwd=empty, env=env, capture_output=True,
                            text=True, timeout=300)
    assert helped.returncode == 0 and "--study" in helped.stdout, helped.stderr[-3000:]

    probe = subprocess.run([python, "-c", PROBE], cwd=empty, env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.splitlines()[-1])
    assert seen["code"] == 0 and seen["plan"] == plan
    assert {"ablations.engine", "ablations.experiment.sweepfile", "senet_core"} <= set(seen["files"])
    elsewhere = {name: f for name, f in seen["files"].items() if not f.startswith(str(site))}
    assert not elsewhere, f"imported from outside the installed copy: {elsewhere}"
    assert not list(empty.iterdir()), "the dry run wrote into the working folder"
