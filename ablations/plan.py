"""Tables -> cells -> unique configurations -> runs (one per configuration and seed)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ExperimentConfig, config_uid
from .schema import to_dict
from .sweepfile import Sweep


@dataclass(frozen=True)
class Cell:
    table: int
    row: str
    config_uid: str


@dataclass(frozen=True)
class Run:
    config_uid: str
    seed: int
    config: ExperimentConfig
    cells: tuple[tuple[int, str], ...]

    @property
    def key(self) -> tuple[str, int]:
        return (self.config_uid, self.seed)

    @property
    def tables(self) -> str:
        return ",".join(str(t) for t in sorted({t for t, _ in self.cells}))

    @property
    def rows(self) -> str:
        return "; ".join(f"T{t} {r}" for t, r in self.cells)

    @property
    def name(self) -> str:
        """A readable MLflow run name, e.g. ``T10 8 seed 0``."""
        t, r = self.cells[0]
        more = f" (+{len(self.cells) - 1})" if len(self.cells) > 1 else ""
        return f"T{t} {r}{more} seed {self.seed}"


@dataclass(frozen=True)
class Plan:
    sweep: Sweep
    cells: tuple[Cell, ...]
    configs: dict[str, ExperimentConfig]
    runs: tuple[Run, ...]

    def cells_of(self, uid: str) -> tuple[tuple[int, str], ...]:
        return tuple((c.table, c.row) for c in self.cells if c.config_uid == uid)

    def to_report_json(self) -> dict:
        """Tables, titles and rows in order with their config_uid: what the report expects."""
        return {
            "suite": self.sweep.suite,
            "preset": self.sweep.preset,
            "seeds": self.sweep.seeds,
            "tables": [
                {"number": t.number, "title": t.title,
                 "rows": [{"row": r.label, "config_uid": config_uid(r.config)} for r in t.rows]}
                for t in self.sweep.tables
            ],
            "base": to_dict(self.sweep.base),
        }

    def to_json(self) -> dict:
        return {
            "rows": [{"table": c.table, "row": c.row, "config_uid": c.config_uid} for c in self.cells],
            "runs": [{"config_uid": r.config_uid, "seed": r.seed} for r in self.runs],
        }


def make_plan(sweep: Sweep) -> Plan:
    cells: list[Cell] = []
    configs: dict[str, ExperimentConfig] = {}
    for table in sweep.tables:
        for row in table.rows:
            uid = config_uid(row.config)
            configs.setdefault(uid, row.config)
            cells.append(Cell(table.number, row.label, uid))
    by_uid = {uid: tuple((c.table, c.row) for c in cells if c.config_uid == uid) for uid in configs}
    # Seed-major order: every configuration gets seed 0 before any gets seed 1, so a
    # partly finished sweep already covers every row.
    runs = tuple(
        Run(uid, seed, cfg, by_uid[uid])
        for seed in range(sweep.seeds)
        for uid, cfg in configs.items()
    )
    return Plan(sweep, tuple(cells), configs, runs)
