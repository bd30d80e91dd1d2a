"""The performance target of each benchmark key, and whether a result meets it."""

from __future__ import annotations

import operator
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    op: str  # ">=" or "<="
    full: float | None  # None: the result carries its own limit (``<key>_limit``)
    quick: float | None

    def limit(self, key: str, result: dict, quick: bool) -> float:
        value = self.quick if quick else self.full
        return result[f"{key}_limit"] if value is None else value

    def met(self, key: str, result: dict, quick: bool) -> bool | None:
        """``None`` where the key was not measured (timm not installed)."""
        if result.get(key) is None:
            return None
        return {">=": operator.ge, "<=": operator.le}[self.op](result[key], self.limit(key, result, quick))


TARGETS: dict[str, Target] = {
    "trainer_vs_bare": Target(">=", 0.95, 0.90),
    "se_overhead_train": Target("<=", 1.10, 1.10),
    "se_overhead_infer": Target("<=", 1.03, 1.03),
    "vs_timm_train": Target("<=", 1.00, 1.00),
    "sweep_overhead": Target("<=", None, None),  # 1.05 + 1 s per run, as a ratio to that sweep's training time
    "loader_headroom": Target(">=", 5.0, 5.0),
}


def verdicts(result: dict, quick: bool) -> dict[str, dict]:
    """Per key: the limit that applies to this run and whether the result meets it."""
    return {key: {"target": f"{t.op} {t.limit(key, result, quick):.2f}", "met": t.met(key, result, quick)}
            for key, t in TARGETS.items()}
