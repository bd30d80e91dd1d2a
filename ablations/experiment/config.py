"""What one experiment is: model, data and training recipe, as frozen dataclasses.

Field names are the factor names everywhere: ``model.se.reduction`` in sweeps.yaml is
``ExperimentConfig.model.se.reduction``, the MLflow param ``model.se.reduction`` and the
report's column. Fields whose metadata says ``uid=False`` tune speed, not the experiment,
and stay out of :func:`config_uid`.

Adding a field: give it a default and ``metadata=SINCE_0_2`` (or a ``since`` of the version
that adds it). It then enters :func:`config_uid` only when it differs from its default, so
the uid of every configuration users have already run stays the same
(tests/ablations/experiment/test_config_uid_promise.py checks them all).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from senet_core import (
    ARCHS,
    MAPPINGS,
    SINCE_0_2,
    AttentionError,
    ModelConfig,
    SEConfig,
    check_attention,
    check_integration,
    check_stages,
)
from senet_core.mappings import check_mapping

from ..errors import unknown
from .schema import flatten

DatasetName = Literal["cifar10", "cifar100", "imagefolder", "fake"]
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}

_SPEED_ONLY = {"uid": False}


@dataclass(frozen=True)
class DatasetIdentity:
    """What a run trained or was evaluated on, for the tracker's dataset inputs: ``name``
    (``cifar10/train[1500]``), a ``digest`` of its images and labels, the ``source`` folder,
    its ``size`` in images and its ``context`` (``training`` or ``evaluation``)."""

    name: str
    digest: str
    source: str
    size: int
    context: str


@dataclass(frozen=True)
class DataConfig:
    """A dataset under the data root and how it is fed.

    train_size / test_size: a class-balanced subset (first images of each class in file
    order) or ``None`` for the whole split. augment: random crop with ``padding`` pixels
    and horizontal flip (CIFAR), or random-resized crop and flip (imagefolder).
    path: folder under the data root for ``imagefolder`` (e.g. ``imagenet``).
    """

    name: DatasetName = "cifar10"
    path: str | None = None
    train_size: int | None = None
    test_size: int | None = None
    augment: bool = True
    padding: int = 4
    image_size: int = 224
    resize: int = 256
    batch_size: int = 128
    eval_batch_size: int = field(default=512, metadata=_SPEED_ONLY)
    workers: int = field(default=4, metadata=_SPEED_ONLY)

    def __post_init__(self) -> None:
        for name in ("train_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 or null, got {value}")
        for name in ("batch_size", "eval_batch_size", "image_size", "resize"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.padding < 0 or self.workers < 0:
            raise ValueError("padding and workers must be >= 0")
        if self.name == "imagefolder" and not self.path:
            raise ValueError("path is required for name 'imagefolder' (a folder under the data root)")

    @property
    def input_size(self) -> int:
        """Side of the images the model sees: ``image_size`` crops, or CIFAR's 32."""
        return self.image_size if self.name == "imagefolder" else 32


@dataclass(frozen=True)
class TrainConfig:
    """SGD recipe. schedule: per-step cosine to zero, or step decay by ``gamma`` at the
    epochs in ``milestones``; both after ``warmup_epochs`` of linear warm-up.

    seed_init / seed_order / seed_augment: the seed of one source of randomness (the initial
    weights, the order of the batches, the augmentation draws), fixed for every run of the
    configuration; ``None`` (the default) takes the run's seed. With all three None the order
    and the augmentation share one random stream, as they always have; fixing any of the
    last two gives each its own stream (``--vary``).
    """

    epochs: int = 1
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    label_smoothing: float = 0.0
    schedule: Literal["cosine", "step"] = "cosine"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    amp: bool = False
    channels_last: bool = field(default=True, metadata=_SPEED_ONLY)
    compile: bool = field(default=False, metadata=_SPEED_ONLY)
    seed_init: int | None = field(default=None, metadata=SINCE_0_2)
    seed_order: int | None = field(default=None, metadata=SINCE_0_2)
    seed_augment: int | None = field(default=None, metadata=SINCE_0_2)

    def seeds(self, seed: int) -> tuple[int, int, int | None]:
        """(init, order, augmentation) seeds of the run with ``seed``; augmentation None: it
        shares the order's stream."""
        init = seed if self.seed_init is None else self.seed_init
        if self.seed_order is None and self.seed_augment is None:
            return init, seed, None
        order = seed if self.seed_order is None else self.seed_order
        return init, order, seed if self.seed_augment is None else self.seed_augment

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {self.epochs}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.warmup_epochs < 0 or self.weight_decay < 0 or self.momentum < 0:
            raise ValueError("warmup_epochs, weight_decay and momentum must be >= 0")


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one training run except its seed."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()

    def __post_init__(self) -> None:
        if self.model.arch not in ARCHS:
            raise unknown("model.arch", self.model.arch, ARCHS.names())
        expected = NUM_CLASSES.get(self.data.name)
        if expected is not None and self.model.num_classes != expected:
            raise ValueError(
                f"model.num_classes is {self.model.num_classes} but data.name "
                f"{self.data.name!r} has {expected} classes"
            )
        check_stages(self.model)
        check_integration(self.model)
        if self.model.se is not None:
            check_se(self.model.se)


_SE_DEFAULTS = SEConfig()


@lru_cache(maxsize=256)
def check_se(se: SEConfig) -> None:
    """Refuse an unknown mapping, a field the chosen mapping has no use for
    (``senet_core.mappings.check_mapping``), a ``module`` that does not import or fit the
    attention interface, and a factor a timm module has no use for."""
    if se.module != _SE_DEFAULTS.module:
        try:
            check_attention(se)
        except AttentionError as err:
            raise ValueError(f"{err.key}: {err}") from None
        return  # a user's module reads what it wants from the section
    if se.mapping not in MAPPINGS:
        raise unknown("model.se.mapping", se.mapping, MAPPINGS.names())
    check_mapping(se)


def params(cfg: ExperimentConfig) -> dict[str, Any]:
    """Flat dotted keys -> values: the MLflow params and the report's factor columns."""
    return flatten(cfg)


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _in_uid(f: dataclasses.Field, value: Any) -> bool:
    """Speed-only fields never enter the hash. A field added after the first release (its
    metadata names the version ``since``) enters it only when it differs from its default,
    so that every configuration that existed before keeps its uid."""
    if not f.metadata.get("uid", True):
        return False
    return "since" not in f.metadata or value != _default(f)


def config_uid(cfg: ExperimentConfig) -> str:
    """Stable 12-hex-digit hash of the experiment-defining fields.

    A promise to the user's stores: finished runs are keyed by it, so the uid of an existing
    configuration never changes (tests/ablations/experiment/config_uids.json holds every uid of the
    first release's suites and presets). New fields get ``since`` metadata.
    """
    payload = json.dumps(flatten(cfg, keep=_in_uid), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
