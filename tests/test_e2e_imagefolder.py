"""The ImageNet path (ImageFolder through DataLoader workers) end to end on the CPU: a tiny
ImageFolder of links to real CIFAR-10 JPEGs, the imagenet preset's ResNet-50 at width 1/8,
one epoch, through the launcher, MLflow and the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import ROOT, paper_tables

pytestmark = pytest.mark.e2e
PER_CLASS = {"train": 6, "val": 3}


@pytest.fixture()
def imagefolder(tmp_path, data_root):
    """<root>/imagenet/{train,val}/<class>/*.jpg, each a link to a CIFAR-10 image."""
    root = tmp_path / "data"
    for split, n in PER_CLASS.items():
        source = "train" if split == "train" else "test"
        for cls in sorted(p.name for p in (data_root / "cifar10" / source).iterdir()):
            folder = root / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for image in sorted((data_root / "cifar10" / source / cls).iterdir())[:n]:
                (folder / image.name).symlink_to(image)
    return root


def test_imagenet_preset_runs_on_an_imagefolder(tmp_path, imagefolder, cache_dir):
    sets = ["model.width=0.125", "model.num_classes=10", "data.image_size=64", "data.resize=72",
            "data.batch_size=16", "data.eval_batch_size=16", "data.workers=2", "train.epochs=1",
            "train.warmup_epochs=0", "train.amp=false"]
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--suite", "paper", "--preset", "imagenet", "--study", "imnet",
           "--run-dir", str(tmp_path / "runs"), "--data-root", str(imagefolder), "--no-progress",
           *paper_tables(tmp_path, 11), *[a for s in sets for a in ("--set", s)]]
    env = {"PATH": "/usr/bin:/bin", "SENET_CACHE_DIR": str(cache_dir), "HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2/2 runs finished, 0 failed" in proc.stdout
    tracking = f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking)
    exp = client.get_experiment_by_name("imnet")
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")
    assert {r.info.status for r in runs} == {"FINISHED"}
    for r in runs:
        assert r.data.params["data.name"] == "imagefolder" and r.data.params["model.arch"] == "resnet50"
        assert r.data.metrics["images_per_s"] > 0 and 0 <= r.data.metrics["final_val_top1_err"] <= 100
    se = next(r for r in runs if r.data.params.get("model.se.reduction"))
    stats = client.download_artifacts(se.info.run_id, "excitation.json", str(tmp_path))
    assert '"5"' in Path(stats).read_text()  # conv5_x's gates were recorded on the val images
    report = subprocess.run([sys.executable, "-m", "report", "--study", "imnet", "--tracking-uri", tracking,
                             "--out", str(tmp_path / "report"), "--format", "md,csv"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "### Table 11: Squeeze operator" in (tmp_path / "report" / "tables.md").read_text()

