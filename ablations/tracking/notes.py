"""The descriptions MLflow shows (``mlflow.note.content``, Markdown): the study's experiment
says how to find a table's runs and group their seeds; each run says its rows and the
paper's numbers for them."""

from __future__ import annotations

from ..experiment.paper import published
from ..experiment.plan import Plan, Run, table_tag
from .links import row_filter, table_filter

NOTE = "mlflow.note.content"
CONFIG_TAG = "config"  # a configuration's short label: the group of its seeds


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def experiment_note(plan: Plan, study: str) -> str:
    """How to answer "show me Table N" in the runs table of the study's experiment."""
    sweep = plan.sweep
    seeds = f"{plan.auto_seeds.min_seeds} to {plan.auto_seeds.max_seeds} (auto)" if plan.auto_seeds else str(sweep.seeds)
    first = sweep.tables[0]
    row = first.rows[0].label
    lines = [
        f"**Study `{study}`**: suite `{sweep.suite}`, preset `{sweep.preset}`, seeds {seeds}; "
        f"{len(plan.configs)} configurations, one run per configuration and seed under the parent run `{study}`.",
        "",
        f"- **One table**: search `{table_filter(first.number)}` (Table {first.number}'s runs); **one row**: "
        f"`{row_filter(first.number, row)}`.",
        f"- **Seeds together**: *Group by* the tag `{CONFIG_TAG}` (one group per configuration, "
        "with its mean and min-max over seeds in the charts).",
        "- **Every training run, flat**: search ``tags.`senet.role` = 'run'``; the parent run "
        "carries the plan and, once `python -m report` has run, the paper-layout tables "
        "(`report/ablation_report.html` among its artifacts).",
        "",
        "| table | title | filter |",
        "| --- | --- | --- |",
        *(f"| {table_tag(t.number)} | {t.title} | `{table_filter(t.number)}` |" for t in sweep.tables),
    ]
    return "\n".join(lines)


def run_note(run: Run) -> str:
    """A run's rows, each with the paper's numbers where it publishes some."""
    lines = [f"Configuration `{run.config_uid}` (`{CONFIG_TAG}` = `{run.label}`), seed {run.seed}.", "",
             "| table | row | filter | paper top-1 | paper top-5 |", "| --- | --- | --- | ---: | ---: |"]
    for t, r in run.cells:
        p = published(t, r)
        lines.append(f"| {table_tag(t)} | {r} | `{row_filter(t, r)}` | "
                     f"{_num(p.top1_err if p else None)} | {_num(p.top5_err if p else None)} |")
    return "\n".join(lines)
