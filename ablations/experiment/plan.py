"""Tables -> cells -> unique configurations -> runs (one per configuration and seed)."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ExperimentConfig, config_uid
from .schema import to_dict
from .sequential import Adaptive, Row, table_rows
from .sweepfile import Sweep, TableId


def table_tag(table: TableId) -> str:
    """``T10`` for a numbered table, the name itself (``ECA2``) for a named one."""
    return f"T{table}" if isinstance(table, int) else str(table)


@dataclass(frozen=True)
class Cell:
    table: TableId
    row: str
    config_uid: str


@dataclass(frozen=True)
class Run:
    config_uid: str
    seed: int
    config: ExperimentConfig
    cells: tuple[tuple[TableId, str], ...]

    @property
    def key(self) -> tuple[str, int]:
        return (self.config_uid, self.seed)

    @property
    def tables(self) -> str:
        return ",".join(dict.fromkeys(str(t) for t, _ in sorted(self.cells, key=lambda c: (isinstance(c[0], str), c[0]))))

    @property
    def rows(self) -> str:
        return "; ".join(f"{table_tag(t)} {r}" for t, r in self.cells)

    @property
    def name(self) -> str:
        """A readable MLflow run name, e.g. ``T10 8 seed 0`` or ``ECA2 SE-Var3 seed 0``."""
        t, r = self.cells[0]
        more = f" (+{len(self.cells) - 1})" if len(self.cells) > 1 else ""
        return f"{table_tag(t)} {r}{more} seed {self.seed}"


@dataclass(frozen=True)
class Plan:
    """The runs a launch queues: every configuration once per seed, or, with ``adaptive``
    (``--seeds auto``), ``min_seeds`` of each to begin with."""

    sweep: Sweep
    cells: tuple[Cell, ...]
    configs: dict[str, ExperimentConfig]
    runs: tuple[Run, ...]
    adaptive: Adaptive | None = None

    def decision_rows(self) -> tuple[Row, ...]:
        """Each table row with its configuration and its reference row's, for ``--seeds auto``."""
        return tuple(row for t in self.sweep.tables
                     for row in table_rows(t.number, [(r.label, config_uid(r.config), r.reference) for r in t.rows]))

    def cells_of(self, uid: str) -> tuple[tuple[int, str], ...]:
        return tuple((c.table, c.row) for c in self.cells if c.config_uid == uid)

    def to_report_json(self) -> dict:
        """Tables, titles and rows in order with their config_uid: what the report expects."""
        return {
            "suite": self.sweep.suite,
            "preset": self.sweep.preset,
            "seeds": self.sweep.seeds,
            **({"adaptive": self.adaptive.to_json()} if self.adaptive else {}),
            "tables": [
                {"number": t.number, "title": t.title, "dataset": t.dataset, "source": t.source,
                 "rows": [{"row": r.label, "config_uid": config_uid(r.config), "reference": r.reference}
                          for r in t.rows]}
                for t in self.sweep.tables
            ],
            "base": to_dict(self.sweep.base),
        }

    def to_json(self) -> dict:
        return {
            "rows": [{"table": c.table, "row": c.row, "config_uid": c.config_uid} for c in self.cells],
            "runs": [{"config_uid": r.config_uid, "seed": r.seed} for r in self.runs],
        }


def make_plan(sweep: Sweep, adaptive: Adaptive | None = None) -> Plan:
    """``adaptive``: ``--seeds auto``; ``sweep.seeds`` is then its ``min_seeds``."""
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
    return Plan(sweep, tuple(cells), configs, runs, adaptive)
