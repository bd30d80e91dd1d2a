"""The performance target of each benchmark key, and whether a result meets it."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

Limit = float | Callable[[dict], float]


def sweep_limit(runs: int, train_s: float) -> float:
    """``sweep_overhead``'s limit: 1.05 plus 1 s per run, as a ratio to the sweep's training time."""
    return 1.05 + runs * 1.0 / train_s


@dataclass(frozen=True)
class Target:
    op: str  # ">=" or "<="
    full: Limit
    quick: Limit

    def limit(self, result: dict, quick: bool) -> float:
        value = self.quick if quick else self.full
        return value(result) if callable(value) else value

    def met(self, key: str, result: dict, quick: bool) -> bool | None:
        """``None`` where the key was not measured (timm not installed)."""
        if result.get(key) is None:
            return None
        return {">=": operator.ge, "<=": operator.le}[self.op](result[key], self.limit(result, quick))


def _sweep(result: dict) -> float:
    return sweep_limit(result["sweep_runs"], result["sweep_train_s"])


def _infer(result: dict) -> float:
    """Ours at most timm's own SE inference cost measured in the same run; the paper's 1.03
    (164 -> 167 ms on its CPU) where timm is not installed."""
    timm = result.get("se_overhead_infer_timm")
    return timm if timm is not None else 1.03


TARGETS: dict[str, Target] = {
    "trainer_vs_bare": Target(">=", 0.95, 0.90),
    "se_overhead_train": Target("<=", 1.10, 1.10),
    "se_overhead_infer": Target("<=", _infer, _infer),
    "vs_timm_train": Target("<=", 1.00, 1.00),
    "sweep_overhead": Target("<=", _sweep, _sweep),
    "loader_headroom": Target(">=", 5.0, 5.0),
    "packing_gain": Target(">=", 1.5, 1.5),
}


def verdicts(result: dict, quick: bool) -> dict[str, dict]:
    """Per key: the limit that applies to this run and whether the result meets it."""
    return {key: {"target": f"{t.op} {t.limit(result, quick):.2f}", "met": t.met(key, result, quick)}
            for key, t in TARGETS.items()}
