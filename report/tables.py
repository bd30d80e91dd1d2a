"""The study's results per paper table: mean +- std over seeds, beside the paper's numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ablations.experiment.auto_seeds import AutoSeeds, decide, holm, table_rows
from ablations.experiment.comparison import Comparison
from ablations.experiment.paper import PaperRow, published
from ablations.experiment.plan import LoggedTable, table_tag
from ablations.experiment.sweepfile import TableId, declared_tables, load_yaml, packaged_sweeps
from ablations.tracking.reader import StudyRuns
from ablations.wording import count

from .render import TextTable, fixed
from .stats import ALPHA, INTERVALS, Method, compare, std, test_name


@dataclass(frozen=True)
class RowResult:
    """One row of one table. status: ok | partial (fewer seeds) | failed | missing."""

    table: TableId
    row: str
    config_uid: str
    status: str
    top1: tuple[float, ...]
    top5: tuple[float, ...]
    params_m: float | None
    gflops: float | None
    paper: PaperRow | None
    reference: str | None
    failures: tuple[str, ...]
    seeds: tuple[int, ...] = ()  # the seed of each value of top1 / top5
    comparison: Comparison | None = None  # against the reference row
    p_adjusted: float | None = None  # Holm, over the table's comparisons
    state: str | None = None  # --seeds auto: resolved, futile, open or failed
    seeds_needed: int | None = None  # --seeds auto: the seed count that would resolve it

    @property
    def n(self) -> int:
        return len(self.top1)

    def mean(self, metric: str) -> float | None:
        v = getattr(self, metric)
        return sum(v) / len(v) if v else None

    @property
    def p_value(self) -> float | None:
        """The unadjusted p-value (kept for the CSV; marks use ``p_adjusted``)."""
        return self.comparison.p if self.comparison else None

    @property
    def differs(self) -> bool | None:
        return None if self.p_adjusted is None else self.p_adjusted < ALPHA


@dataclass(frozen=True)
class TableResult:
    number: TableId
    title: str
    rows: tuple[RowResult, ...]
    dataset: str | None = None  # what the published numbers are on
    source: str | None = None  # where they come from

    @property
    def tag(self) -> str:
        return table_tag(self.number)

    @property
    def published(self) -> bool:
        """Whether any row has published numbers (a suite of one's own may have none)."""
        return any(r.paper is not None for r in self.rows)


def _declared(t: LoggedTable) -> dict:
    """A logged plan's table with its references, dataset and source; plans logged before
    tables carried them get those the project's sweeps.yaml declares for the same table."""
    if t.references_logged:
        return {"references": {r.row: r.reference for r in t.rows if r.reference},
                "dataset": t.dataset, "source": t.source}
    return declared_tables(load_yaml(packaged_sweeps())).get(t.number, {"references": {}})


def _finished_by_key(runs: pd.DataFrame) -> dict[tuple[str, int], pd.Series]:
    ok = runs[runs.status == "FINISHED"].sort_values("start_time")
    return {(r.config_uid, r.seed): r for r in ok.itertuples()}


def build_results(study: StudyRuns, method: Method = "welch") -> list[TableResult]:
    """Every planned row, in plan order; failed and missing rows stay in as such. Each row
    is compared with its reference row by ``method`` and the table's p-values Holm-adjusted;
    in a ``--seeds auto`` study by the anytime-valid test its seeds were added by."""
    runs = study.runs
    auto, seeds = study.plan.auto_seeds, study.plan.max_seeds
    finished = _finished_by_key(runs)
    out = []
    for t in study.plan.tables:
        declared = _declared(t)
        references = declared["references"]
        values: dict[str, tuple] = {}
        rows = []
        for r in t.rows:
            uid = r.config_uid
            done = [finished[(uid, s)] for s in range(seeds) if (uid, s) in finished]
            mine = runs[runs.config_uid == uid]
            failures = tuple(sorted({f for f in mine[mine.status != "FINISHED"].failure if f}))
            if len(done) == seeds or (auto and len(done) >= auto.min_seeds):
                status = "ok"
            elif done:
                status = "partial"
            elif (mine.status == "FAILED").any():
                status = "failed"
            else:
                status = "missing"
            done = [d for d in done if d.top1_err is not None]
            top1 = tuple(float(d.top1_err) for d in done)
            top5 = tuple(float(d.top5_err) for d in done if d.top5_err is not None)
            values[r.row] = {int(d.seed): float(d.top1_err) for d in done}
            rows.append(dict(
                table=t.number, row=r.row, config_uid=uid, status=status, top1=top1, top5=top5,
                seeds=tuple(int(d.seed) for d in done),
                params_m=float(done[0].params_m) if done else None,
                gflops=float(done[0].gflops) if done else None,
                paper=published(t.number, r.row),
                reference=references.get(r.row),
                failures=failures,
            ))
        results = _sequential(rows, values, auto) if auto else _fixed(rows, values, method)
        out.append(TableResult(t.number, t.title, tuple(results),
                               declared.get("dataset"), declared.get("source")))
    return out


def _fixed(rows: list[dict], values: dict[str, dict[int, float]], method: Method) -> list[RowResult]:
    comparisons = [compare(values[r["row"]], values[r["reference"]], method) if r["reference"] in values else None
                   for r in rows]
    adjusted = holm([c.p if c else None for c in comparisons])
    return [RowResult(comparison=c, p_adjusted=p, **r) for r, c, p in zip(rows, comparisons, adjusted, strict=True)]


def _sequential(rows: list[dict], values: dict[str, dict[int, float]], auto: AutoSeeds) -> list[RowResult]:
    """The states the study's seeds were added by, from the runs MLflow holds."""
    decision_rows = table_rows(rows[0]["table"], [(r["row"], r["config_uid"], r["reference"]) for r in rows])
    results = {r["config_uid"]: values[r["row"]] for r in rows}
    failed = {r["config_uid"] for r in rows if r["status"] == "failed"}
    decided = decide(decision_rows, results, failed, auto)
    out = []
    for r in rows:
        d = decided[(r["table"], r["row"])]
        out.append(RowResult(comparison=d.comparison, p_adjusted=d.p_adjusted, state=d.state, seeds_needed=d.seeds_needed,
                             **r))
    return out


def _pm(values: tuple[float, ...], seeds: int) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        text = f"{values[0]:.2f}"  # one seed: no spread to show
    else:
        text = f"{sum(values) / len(values):.2f} ± {std(values):.2f}"
    return text + (f" (n={len(values)})" if len(values) != seeds else "")


def _best(rows: tuple[RowResult, ...], key) -> set[int]:
    vals = [(key(r), i) for i, r in enumerate(rows) if key(r) is not None]
    if not vals:
        return set()
    lo = min(v for v, _ in vals)
    return {i for v, i in vals if v == lo}


PAPER_COLUMNS = ("paper top-1", "paper top-5", "paper GFLOPs", "paper Params")
COLUMNS = ("Row", "top-1 err.", "top-5 err.", "GFLOPs", "Params (M)", "Δ top-1 vs ref. [95% CI]", "vs ref.",
           *PAPER_COLUMNS)


def _delta(r: RowResult) -> str:
    c = r.comparison
    if r.reference is None:
        return "ref."
    if c is None:
        return "—"
    return f"{c.diff:+.2f} {interval(c)}"


def interval(c: Comparison) -> str:
    if not (math.isfinite(c.low) and math.isfinite(c.high)):
        return "[unbounded yet]"  # too few seeds for the anytime-valid test to bound it
    return f"[{c.low:+.2f}, {c.high:+.2f}]"


def caption(study_meta: dict, seeds: int, source: str | None = None, method: Method = "welch",
            published: bool = True) -> str:
    """``source``: where the table's published numbers come from (sweeps.yaml); studies logged
    before tables carried one are the SE paper's. A table with neither published numbers nor
    a source (a suite of one's own) says nothing of a paper."""
    published_from = source or ("Hu et al., Squeeze-and-Excitation Networks (TPAMI): ImageNet, SE-ResNet-50, "
                                "single 224 crop (Tables 10-16), or its CIFAR table")
    paper = f"Paper: {published_from.rstrip('.')}. " if published or source else ""
    interval = "difference in means" if method == "welch" else "mean of the per-seed differences"
    ours = (f"Ours: {study_meta['dataset']}, {study_meta['backbone']}, {count(study_meta['epochs'], 'epoch')}, "
            + (f"mean ± std over each row's seeds (n), added until its comparison was decided (--seeds auto, at most "
               f"{seeds}). " if method == "sequential" else
               f"mean ± std over {count(seeds, 'seed')} (n shown where fewer runs finished). "))
    marks = (f"state: resolved † differs from the reference row ({test_name(method)}); futile: no seed count "
             "up to the budget would resolve it at the difference and spread seen; open: more seeds were queued "
             "(k more: the seeds that would resolve it at the difference seen); ref. the reference row."
             if method == "sequential" else
             f"vs ref.: † differs from the reference row beyond seed noise ({test_name(method)}); "
             "= within seed noise; ref. the reference row; ? untested (fewer than two seeds).")
    return (
        f"{ours}{paper}"
        "Bold: best of our rows per column. Δ: top-1 error minus the reference row's, in points "
        f"({interval}), with its 95% {INTERVALS[method]}. {marks}"
    )


def text_table(t: TableResult, seeds: int, cap: str) -> TextTable:
    cells = []
    for r in t.rows:
        if r.status in ("failed", "missing"):
            note = "FAILED" if r.status == "failed" else "missing"
            ours = (note, note, "—", "—")
        else:
            ours = (_pm(r.top1, seeds), _pm(r.top5, seeds), fixed(r.gflops, 4), fixed(r.params_m, 3))
        vs = _state(r) if r.state is not None or r.reference is None else {True: "†", False: "=", None: "?"}[r.differs]
        p = r.paper
        paper = (fixed(p.top1_err if p else None, 2), fixed(p.top5_err if p else None, 2),
                 fixed(p.gflops if p else None, 2), fixed(p.params_m if p else None, 1))
        cells.append((r.row, *ours, _delta(r), vs, *(paper if t.published else ())))
    bold = set()
    for col, key in ((1, lambda r: r.mean("top1")), (2, lambda r: r.mean("top5")),
                     (3, lambda r: r.gflops), (4, lambda r: r.params_m)):
        bold |= {(i, col) for i in _best(t.rows, key)}
    columns = COLUMNS if t.published else COLUMNS[:-len(PAPER_COLUMNS)]
    if any(r.state is not None for r in t.rows):
        columns = tuple("state" if c == "vs ref." else c for c in columns)
    return TextTable(t.number, t.title, cap, columns, tuple(cells), frozenset(bold))


def _state(r: RowResult) -> str:
    if r.reference is None:
        return "ref."
    if r.state == "resolved":
        return "resolved †"
    if r.state == "open" and r.seeds_needed:
        return f"open: {r.seeds_needed - r.n} more"
    return r.state or "?"


def tidy_frame(results: list[TableResult]) -> pd.DataFrame:
    rows = []
    for t in results:
        for r in t.rows:
            p, c = r.paper, r.comparison
            rows.append({
                "table": t.number, "row": r.row, "config_uid": r.config_uid, "status": r.status, "n": r.n,
                "top1_err_mean": r.mean("top1"), "top1_err_std": std(r.top1) if r.top1 else None,
                "top5_err_mean": r.mean("top5"), "top5_err_std": std(r.top5) if r.top5 else None,
                "params_m": r.params_m, "gflops": r.gflops, "reference": r.reference,
                "diff_top1_err": c.diff if c else None, "diff_ci_low": c.low if c else None,
                "diff_ci_high": c.high if c else None, "stats_method": c.method if c else None,
                "p_value": r.p_value, "p_adjusted": r.p_adjusted,
                "differs_from_reference": r.differs,
                "n_seeds": r.n, "state": r.state, "seeds_needed": r.seeds_needed,
                "paper_top1_err": p.top1_err if p else None, "paper_top5_err": p.top5_err if p else None,
                "paper_params_m": p.params_m if p else None, "paper_gflops": p.gflops if p else None,
                "failures": " | ".join(r.failures),
            })
    return pd.DataFrame(rows)
