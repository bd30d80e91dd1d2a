"""Tables -> cells -> unique configurations -> runs (one per configuration and seed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .auto_seeds import AutoSeeds, Row, table_rows
from .config import ExperimentConfig, config_uid
from .schema import to_dict
from .sweepfile import Sweep, TableId


def table_tag(table: TableId) -> str:
    """``T10`` for a numbered table, the name itself (``ECA2``) for a named one."""
    return f"T{table}" if isinstance(table, int) else str(table)


def table_key(table: TableId) -> str:
    """The MLflow tag a table's runs carry, valued by their row: ``t10`` (``tags.t10 = '8'``
    finds one row's runs, ``tags.t10 != ''`` the table's), ``t_ECA2`` for a named table."""
    return f"t{table}" if isinstance(table, int) else f"t_{table}"


LABEL_CHARS = 30  # a configuration's label fits a group label and a legend entry


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
    def label(self) -> str:
        """The configuration's short readable name, its first row and how many more it
        serves: ``T10 16 (+6)``, ``T13 SE_Stage_2``; the group of its seeds in MLflow."""
        t, r = self.cells[0]
        more = f" (+{len(self.cells) - 1})" if len(self.cells) > 1 else ""
        head = f"{table_tag(t)} {r}"
        room = LABEL_CHARS - len(more)
        return (head if len(head) <= room else head[:room - 1] + "…") + more

    @property
    def name(self) -> str:
        """A readable name for messages, e.g. ``T10 8 seed 0`` or ``ECA2 SE-Var3 seed 0``."""
        return f"{self.label} seed {self.seed}"

    @property
    def run_name(self) -> str:
        """The MLflow run name: short enough for the UI's column; seeds of a configuration
        sort together (``T10 8 s0``, ``T10 8 s1``)."""
        return f"{self.label} s{self.seed}"

    @property
    def table_tags(self) -> dict[str, str]:
        """The per-table tags (:func:`table_key`) and the row(s) this run serves in each."""
        out: dict[str, list[str]] = {}
        for t, r in self.cells:
            out.setdefault(table_key(t), []).append(r)
        return {k: ", ".join(v) for k, v in out.items()}


@dataclass(frozen=True)
class Plan:
    """The runs a launch queues: every configuration once per seed, or, with ``auto_seeds``
    (``--seeds auto``), ``min_seeds`` of each to begin with."""

    sweep: Sweep
    cells: tuple[Cell, ...]
    configs: dict[str, ExperimentConfig]
    runs: tuple[Run, ...]
    auto_seeds: AutoSeeds | None = None

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
            **({"adaptive": self.auto_seeds.to_json()} if self.auto_seeds else {}),  # the key stores were written with
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


@dataclass(frozen=True)
class LoggedRow:
    row: str
    config_uid: str
    reference: str | None = None


@dataclass(frozen=True)
class LoggedTable:
    number: TableId
    title: str
    rows: tuple[LoggedRow, ...]
    dataset: str | None = None
    source: str | None = None
    references_logged: bool = True  # False in plans logged before tables carried their references


@dataclass(frozen=True)
class LoggedPlan:
    """A study's plan as its parent run keeps it (:meth:`Plan.to_report_json`), read back
    once: what the report and other readers of a finished study go by. ``seeds``: the fixed
    seed count, or ``--seeds auto``'s first seeds; ``base``: the base config as logged."""

    suite: str = "?"
    preset: str = "?"
    seeds: int = 1
    auto_seeds: AutoSeeds | None = None
    tables: tuple[LoggedTable, ...] = ()
    base: dict = field(default_factory=dict)

    @property
    def max_seeds(self) -> int:
        """The most seeds any configuration may get."""
        return self.auto_seeds.max_seeds if self.auto_seeds else self.seeds

    @classmethod
    def from_json(cls, data: dict) -> LoggedPlan:
        tables = tuple(
            LoggedTable(t["number"], t.get("title", f"Table {t['number']}"),
                        tuple(LoggedRow(r["row"], r["config_uid"], r.get("reference")) for r in t["rows"]),
                        t.get("dataset"), t.get("source"), any("reference" in r for r in t["rows"]))
            for t in data.get("tables", []))
        auto = AutoSeeds.from_json(data["adaptive"]) if data.get("adaptive") else None
        return cls(data.get("suite", "?"), data.get("preset", "?"), int(data.get("seeds", 1)), auto, tables,
                   data.get("base", {}))


def make_plan(sweep: Sweep, auto_seeds: AutoSeeds | None = None) -> Plan:
    """``auto_seeds``: ``--seeds auto``; ``sweep.seeds`` is then its ``min_seeds``."""
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
    return Plan(sweep, tuple(cells), configs, runs, auto_seeds)
