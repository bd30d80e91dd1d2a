"""The benchmarks: trainer vs bare loop, SE overhead (ours and timm's), our SE-ResNet-50 vs
timm's, sweep overhead, loader headroom (CIFAR tensors and the 224 ImageFolder path), packing
several workers on one GPU, and the projected time of the cifar10 preset."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ablations.experiment.config import DataConfig, ExperimentConfig, TrainConfig
from ablations.training.data import TensorBatches, TensorSplit, load_split
from ablations.training.step import autocast, sgd_step
from ablations.training.trainer import memory_format, synchronize, train
from senet_core import ModelConfig, SEConfig, build_model

from .ab import AB, alternate
from .targets import sweep_limit

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Budget:
    """Sizes and repetitions; ``quick`` is sized for 45 s on 2 CPU cores (42-52 s measured).

    se_size/se_batch: the SE-overhead training step runs on the paper's model (ResNet-50,
    full width) at this resolution; the paper's figure is at 224.
    """

    images: int
    batch: int
    width: float
    repeats: int
    se_size: int
    se_batch: int
    se_repeats: int
    infer_size: int
    infer_repeats: int
    timm_size: int
    timm_batch: int
    sweep_runs: int
    sweep_images: int
    narrow: bool = True


FULL = Budget(images=1024, batch=64, width=0.25, repeats=5, se_size=224, se_batch=8, se_repeats=9, infer_size=224,
              infer_repeats=40, timm_size=224, timm_batch=8, sweep_runs=12, sweep_images=512)
QUICK = Budget(images=192, batch=64, width=0.125, repeats=3, se_size=128, se_batch=8, se_repeats=5, infer_size=224,
               infer_repeats=10, timm_size=64, timm_batch=4, sweep_runs=1, sweep_images=128, narrow=False)
# On a GPU the CPU sizes measure launch overhead, not the model: the paper's batch sizes.
GPU = Budget(images=4096, batch=128, width=1.0, repeats=5, se_size=224, se_batch=64, se_repeats=7, infer_size=224,
             infer_repeats=10, timm_size=224, timm_batch=64, sweep_runs=2, sweep_images=256)
TINY = Budget(images=128, batch=32, width=0.125, repeats=2, se_size=64, se_batch=2, se_repeats=2, infer_size=64,
              infer_repeats=2, timm_size=64, timm_batch=2, sweep_runs=2, sweep_images=128)


def _sync(device: torch.device):
    return functools.partial(synchronize, device)


def _split(n: int, data_root: Path | None) -> tuple[TensorSplit, str]:
    if data_root and (data_root / "cifar10" / "train").is_dir():
        cfg = DataConfig(name="cifar10", train_size=n)
        return load_split(cfg, data_root, True), "cifar10"
    return load_split(DataConfig(name="fake", train_size=n), Path("."), True), "fake"


def _cfg(b: Budget, dataset: str, device: torch.device) -> ExperimentConfig:
    return ExperimentConfig(
        model=ModelConfig(arch="cifar_resnet50", num_classes=10, width=b.width),
        data=DataConfig(name=dataset, train_size=b.images, test_size=b.batch, batch_size=b.batch),
        train=TrainConfig(epochs=1, lr=0.05, amp=device.type == "cuda"),
    )


def trainer_vs_bare(b: Budget, device: torch.device, split: TensorSplit, dataset: str) -> dict:
    """Our trainer's training images/s (tensor pipeline, augmentation, optimizer, metrics,
    MLflow logging of the epoch) over a bare loop on pre-made tensors, same model and batch."""
    from ablations.experiment.config import config_uid
    from ablations.experiment.plan import Run
    from ablations.tracking.writer import Tracker

    cfg = _cfg(b, dataset, device)
    tr = TensorBatches(split, cfg.data, b.batch, device, True)
    te = TensorBatches(TensorSplit(split.images[: b.batch], split.labels[: b.batch], split.classes), cfg.data,
                       b.batch, device, False)
    tmp = Path(tempfile.mkdtemp())
    tracker = Tracker(f"sqlite:///{tmp / 'mlflow.db'}", "bench", tmp / "artifacts")
    child = tracker.start_child(tracker.parent_run({}), Run(config_uid(cfg), 0, cfg, (("bench", "bench"),)), {})

    def ours() -> float:
        t_log = []

        def log(epoch, metrics):
            t0 = time.perf_counter()
            child.log_epoch(epoch, metrics)
            t_log.append(time.perf_counter() - t0)

        out = train(cfg, 0, tr, te, device, on_epoch=log)
        return b.images / out.history[0]["images_per_s"] + t_log[0]

    fmt = memory_format(cfg, build_model(cfg.model), device)
    xs = [tr.normalize(split.images[i:i + b.batch].to(device)).contiguous(memory_format=fmt)
          for i in range(0, b.images, b.batch)]
    ys = [split.labels[i:i + b.batch].to(device) for i in range(0, b.images, b.batch)]
    sync = _sync(device)
    tc = cfg.train

    def bare() -> float:
        # The reference the trainer is measured against, so written out in bare PyTorch (not
        # ablations.training.step): a freshly initialised model and optimizer, outside the timing.
        torch.manual_seed(0)
        model = build_model(cfg.model).to(device).to(memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if tc.amp else contextlib.nullcontext()
        sync()
        t0 = time.perf_counter()
        for x, y in zip(xs, ys, strict=True):
            with autocast:
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync()
        return time.perf_counter() - t0

    ab = alternate(bare, ours, b.repeats, sync=sync)  # bare time over ours: our images/s over bare's
    return {**_ratio("trainer_vs_bare", ab), "trainer_images_per_s": b.images / ab.b_s,
            "bare_images_per_s": b.images / ab.a_s, "dataset": dataset}


def _step_fn(model, x, y, train_mode: bool, amp: bool):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        sgd_step(model, x, y, opt, amp, x.device)

    def infer():
        with torch.no_grad(), autocast(amp, x.device):
            model(x)

    return step if train_mode else infer


def _ratio(key: str, ab: AB) -> dict:
    """``key``: the median pair ratio; ``key_spread``: the lowest and highest pair, so a
    reader can tell a real difference from this machine's noise."""
    return {key: ab.ratio, f"{key}_spread": ab.spread}


def _pair(ma: torch.nn.Module, mb: torch.nn.Module, size: int, batch: int, device, train_mode: bool,
          repeats: int) -> AB:
    """Paired time ratio of a step of ``ma`` over one of ``mb`` (channels_last, same input)."""
    amp = device.type == "cuda"
    fmt = torch.channels_last
    ma, mb = (m.to(device).to(memory_format=fmt).train(train_mode) for m in (ma, mb))
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,), device=device)
    return alternate(_step_fn(ma, x, y, train_mode, amp), _step_fn(mb, x, y, train_mode, amp), repeats,
                     warmup=2, sync=_sync(device))


def se_overhead(b: Budget, device: torch.device) -> dict:
    """SE-ResNet-50 over ResNet-50, the paper's pair (Section 4): a training step at the
    budget's resolution and batch, and single-image inference at 224 on the CPU (the
    paper's 164 -> 167 ms). Also, for reference, the training step of the narrow CIFAR
    ResNet-50 the sweep presets train, where SE's elementwise work weighs more."""
    paper = ModelConfig(arch="resnet50", num_classes=1000)
    se, plain = build_model(paper), build_model(dataclasses.replace(paper, se=None))
    train = _pair(se, plain, b.se_size, b.se_batch, device, True, b.se_repeats)
    batch = 1 if device.type == "cpu" else 32
    infer = _pair(se, plain, b.infer_size, batch, device, False, b.infer_repeats)
    out = {**_ratio("se_overhead_train", train), **_ratio("se_overhead_infer", infer)}
    if b.narrow:
        narrow = ModelConfig(arch="cifar_resnet50", num_classes=10, width=b.width)
        out.update(_ratio("se_overhead_train_narrow", _pair(
            build_model(narrow), build_model(dataclasses.replace(narrow, se=None)), 32, b.batch, device, True,
            b.repeats)))
        out["se_overhead_narrow_width"] = b.width
    return out


def vs_timm(b: Budget, device: torch.device) -> dict:
    """Our SE-ResNet-50 (stride on the 3x3, as timm) over timm's ``seresnet50``, train step."""
    try:
        import timm
    except ImportError:
        return {"vs_timm_train": None, "se_overhead_infer_timm": None,
                "vs_timm_note": "timm not installed (pip install -e '.[bench]')"}
    ours = build_model(ModelConfig(arch="resnet50", num_classes=1000, stride_in_1x1=False, se=SEConfig()))
    theirs = timm.create_model("seresnet50", pretrained=False, num_classes=1000)
    ab = _pair(ours, theirs, b.timm_size, b.timm_batch, device, True, b.repeats)
    # timm's own SE cost in inference, measured as se_overhead_infer is: ours is judged against it.
    batch = 1 if device.type == "cpu" else 32
    infer = _pair(theirs, timm.create_model("resnet50", pretrained=False, num_classes=1000), b.infer_size, batch,
                  device, False, b.infer_repeats)
    return {**_ratio("vs_timm_train", ab), **_ratio("se_overhead_infer_timm", infer), "timm_version": timm.__version__}


def sweep_overhead(b: Budget) -> dict:
    """Wall time of ``run_sweep.py`` on K small runs (start-up, Optuna, MLflow included) over
    the sum of the runs' own epoch times."""
    import yaml
    from mlflow.tracking import MlflowClient

    tmp = Path(tempfile.mkdtemp())
    rows = [{"row": f"r{r}", "set": {"model.se.reduction": r}} for r in range(1, b.sweep_runs + 1)]
    sweep = {
        "base": {"model": {"arch": "cifar_resnet50", "num_classes": 10, "width": b.width},
                 "data": {"name": "fake", "train_size": b.sweep_images, "test_size": 128, "batch_size": b.batch},
                 "train": {"epochs": 1, "lr": 0.05}},
        "suites": {"bench": {"tables": {10: rows}}},
        "presets": {"bench": {"set": {}}},
    }
    (tmp / "sweeps.yaml").write_text(yaml.safe_dump(sweep))
    cmd = [sys.executable, str(ROOT / "run_sweep.py"), "--config", str(tmp / "sweeps.yaml"), "--suite", "bench",
           "--preset", "bench", "--run-dir", str(tmp / "runs"), "--no-progress", "--device", "cpu"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, cwd=tmp, env={**os.environ})
    wall = time.perf_counter() - t0
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'runs' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("bench-bench")
    runs = client.search_runs([exp.experiment_id], "tags.`senet.role` = 'run'")
    trained = sum(r.data.metrics["epoch_time_s"] for r in runs)
    return {"sweep_overhead": wall / trained, "sweep_overhead_s_per_run": (wall - trained) / len(runs),
            "sweep_overhead_limit": sweep_limit(len(runs), trained),
            "sweep_runs": len(runs), "sweep_wall_s": wall, "sweep_train_s": trained}


def loader_headroom(b: Budget, device: torch.device, split: TensorSplit, dataset: str, model_ips: float) -> dict:
    """Images/s the tensor pipeline delivers (augmented, normalised, on device) over the
    images/s the model trains at."""
    batches = TensorBatches(split, DataConfig(name=dataset, batch_size=b.batch), b.batch, device, True)
    sync = _sync(device)
    times = []
    for epoch in range(b.repeats + 1):
        sync()
        t0 = time.perf_counter()
        for _batch in batches.epoch(0, epoch):
            pass
        sync()
        times.append(time.perf_counter() - t0)
    loader_ips = b.images / min(times[1:])
    return {"loader_headroom": loader_ips / model_ips, "loader_images_per_s": loader_ips}


def packing_gain(device: torch.device, steps: int = 30) -> dict:
    """Aggregate training images/s of K worker processes sharing one GPU over one process
    (K = 2, 4): CIFAR-stem SE-ResNet-50 at full width, batch 128, bf16, channels_last. How
    much packing small runs on a GPU (more workers than GPUs) gains. GPU only."""
    if device.type != "cuda":
        return {"packing_gain": None, "packing_gain_2": None}
    rates = {}
    for k in (1, 2, 4):
        start = time.time() + 20  # every process starts timing together, after its warm-up
        procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.packing", "--steps", str(steps),
                                   "--start-at", str(start)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
                 for _ in range(k)]
        rates[k] = sum(float(p.communicate(timeout=600)[0].split()[-1]) for p in procs)
    return {"packing_gain": rates[4] / rates[1], "packing_gain_2": rates[2] / rates[1],
            "packing_images_per_s": rates}


def projections(device: torch.device) -> dict:
    """Hours the full cifar10 preset takes with one worker on this device, from the measured
    images/s of each suite's first configuration (what --dry-run prints)."""
    from ablations.experiment.plan import make_plan
    from ablations.experiment.sweepfile import load_yaml, packaged_sweeps, resolve
    from ablations.training.estimate import estimate_seconds

    data = load_yaml(packaged_sweeps())
    out = {}
    for suite in ("paper", "cifar_depth"):
        total, rate, _ = estimate_seconds(make_plan(resolve(data, suite, "cifar10")), device)
        out[f"projected_{suite}_cifar10_h"] = total / 3600
        out[f"projected_{suite}_images_per_s"] = rate
    return out


def loader_headroom_224(b: Budget, device: torch.device, data_root: Path | None) -> dict:
    """Images/s the ImageFolder path (JPEG decode, random-resized 224 crop, flip, DataLoader
    workers on every core, pinned copies to the device) delivers over the images/s SE-ResNet-50
    trains at 224. Measured on CIFAR-10's JPEGs, which decode far faster than ImageNet's."""
    from ablations.training.data import FolderBatches
    from ablations.training.estimate import measure_images_per_s

    if not data_root or not (data_root / "cifar10" / "train").is_dir():
        return {"loader_headroom_224": None}
    tmp = Path(tempfile.mkdtemp())
    source = data_root / "cifar10" / "train"
    per_class = max(1, b.images // 10)
    for split in ("train", "val"):
        for cls in sorted(p.name for p in source.iterdir()):
            folder = tmp / "imagenet" / split / cls
            folder.mkdir(parents=True)
            for image in sorted((source / cls).iterdir())[:per_class]:
                (folder / image.name).symlink_to(image)
    cfg = ExperimentConfig(
        model=ModelConfig(arch="resnet50", num_classes=1000),
        # the model is timed at the budget's SE batch on the CPU (a 224 step is slow there)
        data=DataConfig(name="imagefolder", path="imagenet", batch_size=b.batch if device.type == "cuda" else b.se_batch,
                        workers=os.cpu_count() or 1),
        train=TrainConfig(amp=device.type == "cuda"),
    )
    batches = FolderBatches(cfg.data, tmp, b.batch, device, True)
    sync = _sync(device)
    times = []
    for epoch in range(2):  # the first epoch starts the workers
        sync()
        t0 = time.perf_counter()
        n = sum(len(y) for _x, y in batches.epoch(0, epoch))
        sync()
        times.append(time.perf_counter() - t0)
    loader = n / times[-1]
    model = measure_images_per_s(cfg, device)
    return {"loader_headroom_224": loader / model, "loader_images_per_s_224": loader, "model_images_per_s_224": model,
            "loader_workers": cfg.data.workers}


def run_all(b: Budget, device: torch.device, data_root: Path | None) -> dict:
    out: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
                 "torch": str(torch.__version__), "budget": dataclasses.asdict(b)}
    seconds: dict[str, float] = {}

    def timed(name: str, fn, *args) -> None:
        t0 = time.perf_counter()
        out.update(fn(*args))
        seconds[name] = round(time.perf_counter() - t0, 1)

    split, dataset = _split(b.images, data_root)
    timed("trainer_vs_bare", trainer_vs_bare, b, device, split, dataset)
    timed("se_overhead", se_overhead, b, device)
    timed("vs_timm", vs_timm, b, device)
    timed("sweep_overhead", sweep_overhead, b)
    timed("loader_headroom", loader_headroom, b, device, split, dataset, out["trainer_images_per_s"])
    timed("loader_headroom_224", loader_headroom_224, b, device, data_root)
    timed("packing_gain", packing_gain, device)
    if device.type == "cuda" or b is not TINY:
        timed("projections", projections, device)
    out["seconds"] = seconds
    return out


def dumps(result: dict) -> str:
    return json.dumps(result, indent=1, default=str)
