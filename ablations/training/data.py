"""Datasets under a data root, decoded once into uint8 tensors (CIFAR scale) or streamed
through DataLoader workers (ImageFolder scale, e.g. ImageNet).

Layout under the data root: ``cifar10/`` and ``cifar100/`` hold either torchvision's
format (``cifar-10-batches-py``, ``cifar-100-python``) or the ImageFolder layout
(``train/<class>/*``, ``test/<class>/*``); ``<data.path>/{train,val}/<class>/*`` for
``imagefolder``. ``fake`` makes random images for unit tests only.
"""

from __future__ import annotations

import abc
import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError
from ..experiment.config import NUM_CLASSES, DataConfig, DatasetIdentity
from ..runtime.settings import default_cache_dir
from .augment import Normalize, random_crop, random_flip

MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "fake": ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
}
_TORCHVISION_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class TensorSplit:
    """A whole split in memory: images (N, 3, H, W) uint8, labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]


def _identity(cfg: DataConfig, root: Path, train: bool, size: int, digest: str) -> DatasetIdentity:
    split = "train" if train else ("val" if cfg.name == "imagefolder" else "test")
    base = cfg.path if cfg.name == "imagefolder" else cfg.name
    name = f"{base}/{split}" + (f"[{size}]" if (cfg.train_size if train else cfg.test_size) else "")
    source = "fake (generated)" if cfg.name == "fake" else str(dataset_dir(cfg, root).resolve() / split)
    return DatasetIdentity(name, digest, source, size, "training" if train else "evaluation")


def _tensor_digest(split: TensorSplit) -> str:
    h = hashlib.sha256()
    h.update(split.labels.cpu().numpy().tobytes())
    h.update(split.images.cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def dataset_dir(cfg: DataConfig, root: Path) -> Path:
    return root / (cfg.path if cfg.name == "imagefolder" else cfg.name)


def check_data(cfg: DataConfig, root: Path, num_classes: int | None = None) -> None:
    """Fail early, with the path and the layouts looked for, if the dataset is absent, or an
    ImageFolder has more classes than the model has outputs."""
    if cfg.name == "fake":
        return
    where = dataset_dir(cfg, root)
    if cfg.name == "imagefolder":
        missing = [s for s in ("train", "val") if not (where / s).is_dir()]
        if missing:
            raise ConfigError(
                f"data root {str(root)!r}: no {'/'.join(missing)} folder under {str(where)!r} "
                "(expected <data root>/<data.path>/{train,val}/<class>/<image>)"
            )
        classes = sum(1 for d in (where / "train").iterdir() if d.is_dir())
        if num_classes is not None and classes > num_classes:
            # On a GPU the labels past the last output would be a device-side assert.
            raise ConfigError(f"model.num_classes is {num_classes} but {str(where / 'train')!r} has {classes} "
                              "class folders; set model.num_classes to at least that")
        return
    if (where / "train").is_dir() and (where / "test").is_dir():
        return
    if (where / _TORCHVISION_DIRS[cfg.name]).is_dir():
        return
    raise ConfigError(
        f"data root {str(root)!r}: no {cfg.name} found; expected {str(where / 'train')!r} and "
        f"{str(where / 'test')!r} (ImageFolder) or {str(where / _TORCHVISION_DIRS[cfg.name])!r} "
        "(torchvision); set --data-root or SENET_DATA_ROOT"
    )


def _balanced(labels: np.ndarray, n: int | None, num_classes: int) -> np.ndarray:
    """Indices of the first images of each class, ``n`` in all, as even as possible."""
    if n is None or n >= len(labels):
        return np.arange(len(labels))
    per_class = [n // num_classes + (1 if c < n % num_classes else 0) for c in range(num_classes)]
    picked = [np.flatnonzero(labels == c)[:k] for c, k in enumerate(per_class)]
    return np.sort(np.concatenate(picked))


def _folder_files(split_dir: Path) -> tuple[list[Path], np.ndarray, tuple[str, ...]]:
    classes = tuple(sorted(d.name for d in split_dir.iterdir() if d.is_dir()))
    files, labels = [], []
    for i, cls in enumerate(classes):
        names = sorted(f for f in os.listdir(split_dir / cls) if f.lower().endswith(IMAGE_SUFFIXES))
        files += [split_dir / cls / f for f in names]
        labels += [i] * len(names)
    return files, np.asarray(labels, dtype=np.int64), classes


def _decode(files: list[Path]) -> np.ndarray:
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def _read_split(cfg: DataConfig, root: Path, train: bool, size: int | None) -> TensorSplit:
    where = dataset_dir(cfg, root)
    num_classes = NUM_CLASSES[cfg.name]
    folder = where / ("train" if train else "test")
    if folder.is_dir():
        files, labels, classes = _folder_files(folder)
        keep = _balanced(labels, size, num_classes)
        images = _decode([files[i] for i in keep])
        labels = labels[keep]
    else:
        from torchvision import datasets  # slow to import (1.2 s): only for this layout

        cls = datasets.CIFAR10 if cfg.name == "cifar10" else datasets.CIFAR100
        ds = cls(str(where), train=train, download=not (where / _TORCHVISION_DIRS[cfg.name]).is_dir())
        labels = np.asarray(ds.targets, dtype=np.int64)
        keep = _balanced(labels, size, num_classes)
        images, labels, classes = ds.data[keep], labels[keep], tuple(ds.classes)
    return TensorSplit(
        torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
        torch.from_numpy(labels),
        classes,
    )


def _fake_split(train: bool, size: int | None) -> TensorSplit:
    n = size or 256
    gen = torch.Generator().manual_seed(1 if train else 2)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 256, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
    # A class-dependent brightness shift makes the fake task learnable.
    images = (images // 2 + (labels * 12).view(-1, 1, 1, 1)).to(torch.uint8)
    return TensorSplit(images, labels, tuple(f"class{i}" for i in range(10)))


def load_split(cfg: DataConfig, root: Path, train: bool, cache_dir: Path | None = None) -> TensorSplit:
    """One split as tensors, decoded once and cached (``SENET_CACHE_DIR``) for later runs."""
    size = cfg.train_size if train else cfg.test_size
    if cfg.name == "fake":
        return _fake_split(train, size)
    cache_dir = cache_dir or default_cache_dir()
    source = str(dataset_dir(cfg, root).resolve())
    tag = hashlib.sha256(source.encode()).hexdigest()[:10]
    path = cache_dir / f"{cfg.name}-{'train' if train else 'test'}-{size or 'all'}-{tag}.pt"
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
            return TensorSplit(blob["images"], blob["labels"], tuple(blob["classes"]))
        except Exception as err:  # every run would fail on it: decode the images again
            print(f"data cache {path} unreadable ({type(err).__name__}); decoding the images again",
                  file=sys.stderr, flush=True)
    split = _read_split(cfg, root, train, size)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"images": split.images, "labels": split.labels, "classes": list(split.classes)}, tmp)
    os.replace(tmp, path)
    return split


AUGMENT_STREAM = 500_000  # offsets the augmentation's own stream from the order's


def epoch_generator(seed: int, epoch: int, device: torch.device, stream: int = 0) -> torch.Generator:
    """The random stream of one epoch: a resumed run replays exactly the same batches."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch + stream)


def epoch_streams(order_seed: int, epoch: int, device: torch.device,
                  augment_seed: int | None) -> tuple[torch.Generator, torch.Generator]:
    """(order, augmentation) streams of one epoch: the augmentation draws from the order's
    stream unless it has a seed of its own (``train.seed_*``)."""
    order = epoch_generator(order_seed, epoch, device)
    return order, order if augment_seed is None else epoch_generator(augment_seed, epoch, device, AUGMENT_STREAM)


class Batches(abc.ABC):
    """A split as the trainer reads it: ``len()`` batches of ``batch_size`` per epoch, in an
    order and with augmentation drawn from the epoch's seeds (:meth:`epoch`); ``labels`` in
    evaluation order, ``classes`` their names, ``identity`` what the tracker records of it."""

    batch_size: int
    labels: torch.Tensor
    classes: tuple[str, ...]
    identity: DatasetIdentity | None

    def __len__(self) -> int:
        return -(-self.num_images // self.batch_size)

    @property
    def num_images(self) -> int:
        return len(self.labels)

    @abc.abstractmethod
    def epoch(self, order_seed: int, epoch: int, skip: int = 0,
              augment_seed: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches (images on the training device, normalised) after its first
        ``skip``."""


class TensorBatches(Batches):
    """Batches of a :class:`TensorSplit` held on the training device, augmented there."""

    def __init__(
        self,
        split: TensorSplit,
        cfg: DataConfig,
        batch_size: int,
        device: torch.device,
        train: bool,
        identity: DatasetIdentity | None = None,
    ) -> None:
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.classes = split.classes
        self.batch_size = batch_size
        self.device = device
        self.train = train
        self.augment = train and cfg.augment
        self.padding = cfg.padding
        self.normalize = Normalize(*MEAN_STD[cfg.name], device=device)
        self.identity = identity  # DataCache's, which knows the split's source

    def epoch(self, order_seed: int, epoch: int, skip: int = 0,
              augment_seed: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches after its first ``skip``; a resumed run gets exactly the
        batches, augmentation included, that it would have had without the stop
        (:func:`epoch_streams`)."""
        gen, draws = epoch_streams(order_seed, epoch, self.device, augment_seed)
        n = len(self.labels)
        order = torch.randperm(n, generator=gen, device=self.device) if self.train else None
        for i, start in enumerate(range(0, n, self.batch_size)):
            idx = order[start : start + self.batch_size] if order is not None else slice(start, start + self.batch_size)
            x, y = self.images[idx], self.labels[idx]
            if self.augment:
                x = random_flip(random_crop(x, self.padding, draws), draws)  # drawn for skipped batches too
            if i >= skip:
                yield self.normalize(x), y


class FolderBatches(Batches):
    """ImageFolder data (ImageNet scale) through DataLoader workers with pinned memory."""

    def __init__(self, cfg: DataConfig, root: Path, batch_size: int, device: torch.device, train: bool) -> None:
        from torchvision import datasets, transforms  # slow to import (1.2 s): only for ImageFolder data

        mean, std = MEAN_STD["imagefolder"]
        if train:
            ops = [transforms.RandomResizedCrop(cfg.image_size)]
            ops += [transforms.RandomHorizontalFlip()] if cfg.augment else []
        else:
            ops = [transforms.Resize(cfg.resize), transforms.CenterCrop(cfg.image_size)]
        tf = transforms.Compose([*ops, transforms.ToTensor(), transforms.Normalize(mean, std)])
        self.dataset = datasets.ImageFolder(str(dataset_dir(cfg, root) / ("train" if train else "val")), tf)
        size = cfg.train_size if train else cfg.test_size
        targets = np.asarray(self.dataset.targets)
        self.indices = _balanced(targets, size, len(self.dataset.classes)).tolist()
        self.labels = torch.as_tensor(targets[self.indices])  # in evaluation order
        self.cfg, self.batch_size, self.device, self.train = cfg, batch_size, device, train
        self.classes = tuple(self.dataset.classes)
        # The chosen files and labels stand for the images (ImageNet's are not read twice).
        h = hashlib.sha256()
        for i in self.indices:
            path, label = self.dataset.samples[i]
            h.update(f"{Path(path).relative_to(self.dataset.root)}\t{label}\n".encode())
        self.identity = _identity(cfg, root, train, len(self.indices), h.hexdigest()[:16])

    def epoch(self, order_seed: int, epoch: int, skip: int = 0,
              augment_seed: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The epoch's batches after its first ``skip``, in the same image order as without
        the stop (the skipped images are not decoded; their augmentation draws differ). The
        loader workers' augmentation is seeded from :func:`epoch_streams`."""
        from torch.utils.data import DataLoader, Subset  # only for ImageFolder data

        gen, draws = epoch_streams(order_seed, epoch, torch.device("cpu"), augment_seed)
        order = torch.randperm(len(self.indices), generator=gen).tolist() if self.train else range(len(self.indices))
        loader = DataLoader(
            Subset(self.dataset, [self.indices[i] for i in order[skip * self.batch_size:]]),
            batch_size=self.batch_size,
            shuffle=False,
            generator=draws,
            num_workers=self.cfg.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            drop_last=False,
        )
        for x, y in loader:
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


class DataCache:
    """Loaded splits shared by the runs of one worker (most sweeps use one data config),
    kept on the training device so a GPU receives the dataset once, not once per run."""

    def __init__(self, data_root: Path, cache_dir: Path, device: torch.device) -> None:
        self.data_root, self.cache_dir, self.device = data_root, cache_dir, device
        self._splits: dict = {}

    def batches(self, d: DataConfig) -> tuple[Batches, Batches]:
        """The training and test batches of ``d``."""
        if d.name == "imagefolder":
            return (FolderBatches(d, self.data_root, d.batch_size, self.device, True),
                    FolderBatches(d, self.data_root, d.eval_batch_size, self.device, False))
        key = (d.name, d.path, d.train_size, d.test_size)
        if key not in self._splits:
            self._splits = {key: tuple(self._load(d, t) for t in (True, False))}
        (tr, tr_id), (te, te_id) = self._splits[key]
        return (TensorBatches(tr, d, d.batch_size, self.device, True, tr_id),
                TensorBatches(te, d, d.eval_batch_size, self.device, False, te_id))

    def _load(self, d: DataConfig, train: bool) -> tuple[TensorSplit, DatasetIdentity]:
        split = load_split(d, self.data_root, train, self.cache_dir)
        identity = _identity(d, self.data_root, train, len(split.labels), _tensor_digest(split))
        return _on(split, self.device), identity


def _on(split: TensorSplit, device: torch.device) -> TensorSplit:
    return TensorSplit(split.images.to(device), split.labels.to(device), split.classes)
