"""The GPU check's fast parts, rehearsed on the CPU: the subset packed by prepare.sh, unpacked by
check.sh, a step run within its budget, and what comes back laid out as the device tool returns
it (the full rehearsal: make gpu-rehearse)."""

from __future__ import annotations

import os
import subprocess
import zipfile

from tests.conftest import ROOT


def test_prepare_and_a_rehearsed_check_step(tmp_path, data_root):
    env = {**os.environ, "GPU_DIR": str(tmp_path / "gpu"), "OUT": str(tmp_path / "out"), "SENET_DATA_ROOT": str(data_root)}
    prep = subprocess.run(["bash", "tools/gpu/prepare.sh", "--no-wheels", "--train", "200", "--test", "100"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert prep.returncode == 0, prep.stderr
    assert "(limit 60)" in prep.stdout
    with zipfile.ZipFile(tmp_path / "gpu" / "cifar10.zip") as z:
        names = z.namelist()
    assert len(names) == 300 and names[0].startswith("cifar10/train/") and names[-1].startswith("cifar10/test/")

    check = subprocess.run(["bash", "tools/gpu/check.sh", "--rehearse", "--steps", "a"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    last = check.stdout.strip().splitlines()
    assert last[-2].startswith("GPU check (CPU rehearsal): python") and "torch" in last[-2]
    assert last[-1].startswith("a-cuda-tests") and last[-1].endswith("ok")
    back = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert back == ["a-tests.log", "logs.tar.gz", "summary.txt"]
    assert "skipped" in (tmp_path / "out" / "a-tests.log").read_text()  # no GPU here


def test_a_failing_step_fails_the_check(tmp_path, data_root):
    env = {**os.environ, "GPU_DIR": str(tmp_path / "gpu"), "OUT": str(tmp_path / "out"), "SENET_DATA_ROOT": str(data_root)}
    (tmp_path / "gpu").mkdir()
    missing = subprocess.run(["bash", "tools/gpu/check.sh", "--rehearse", "--steps", "a"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "run tools/gpu/prepare.sh" in missing.stderr

