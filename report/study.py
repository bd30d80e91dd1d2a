"""``python -m report --study NAME``: tables, figures and the PDF of a tracked study."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ablations.errors import ConfigError
from ablations.experiment.config import ExperimentConfig, config_uid
from ablations.experiment.plan import LoggedPlan
from ablations.experiment.schema import parse
from ablations.runtime.outage import tracking_patience
from ablations.runtime.settings import make_settings
from ablations.tracking.links import UI_ADDRESS, ui_address, ui_hint
from ablations.tracking.reader import StudyRuns, read_study
from ablations.wording import count

from . import figures
from .html import to_html
from .pdf import Section, write_pdf
from .render import to_latex, to_markdown
from .seeds import DEFAULT_POWER, PAGE_COLUMNS, describe, intro, one_seed_message, page_rows, plan_seeds
from .stats import DEFAULT_METHOD, METHODS, Method
from .summary import overview, table_sentences
from .tables import build_results, caption, text_table, tidy_frame

FORMATS = ("pdf", "md", "tex", "csv", "html")


def _formats(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise ConfigError(f"--format {text!r}: valid formats are {', '.join(FORMATS)} (comma-separated)")
    return chosen


def study_meta(study: StudyRuns) -> dict[str, str]:
    base = study.plan.base
    model, data, train = base.get("model", {}), base.get("data", {}), base.get("train", {})
    subset = f", {data.get('train_size')} training images" if data.get("train_size") else ""
    runs = study.runs
    devices = sorted(set(runs.device) - {""})
    torch_versions = sorted(set(runs.torch) - {""})
    return {
        "dataset": f"{data.get('name', '?')}{subset}",
        "backbone": f"{model.get('arch', '?')} width {model.get('width', '?')}",
        "epochs": str(train.get("epochs", "?")),
        "devices": ", ".join(devices) or "unknown",
        "torch": ", ".join(torch_versions) or "unknown",
    }


def _base_uid(study: StudyRuns) -> str | None:
    if not study.plan.base:
        return None
    try:
        return config_uid(parse(ExperimentConfig, study.plan.base))
    except (KeyError, ConfigError):
        return None


def build_report(study: StudyRuns, out: Path, formats: list[str], method: Method = DEFAULT_METHOD,
                 tracking_uri: str = "", address: str | None = None) -> list[Path]:
    """``address``: the MLflow UI the HTML page links to (default: the tracking server's, or
    ``mlflow ui``'s)."""
    out.mkdir(parents=True, exist_ok=True)
    seeds = study.plan.max_seeds
    method = "sequential" if study.plan.auto_seeds else method  # the test its seeds were added by
    results = build_results(study, method)
    meta = study_meta(study)
    texts = [text_table(t, seeds, caption(meta, seeds, t.source, method, t.published)) for t in results]
    written: list[Path] = []
    if "md" in formats:
        path = out / "tables.md"
        path.write_text(f"# Study {study.study}\n\n" + to_markdown(texts))
        written.append(path)
    if "tex" in formats:
        path = out / "tables.tex"
        path.write_text(to_latex(texts))
        written.append(path)
    if "csv" in formats:
        path = out / "tables.csv"
        tidy_frame(results).to_csv(path, index=False)
        written.append(path)
    if "html" in formats:
        path = out / "ablation_report.html"
        header = [("Suite / preset", f"{study.plan.suite} / {study.plan.preset}"),
                  ("Ours", f"{meta['dataset']}, {meta['backbone']}, {count(meta['epochs'], 'epoch')}, torch {meta['torch']} "
                           f"on {meta['devices']}"),
                  ("Seeds", _seeds_line(study.plan, results)),
                  ("Git commit", study.parent["tags"].get("git_commit", "unknown"))]
        path.write_text(to_html(study.study, results, texts, _row_runs(study), study.experiment_id,
                                address or ui_address(tracking_uri), header))
        written.append(path)
    if "pdf" in formats:
        written.append(_pdf(study, results, texts, meta, out, tracking_uri))
    return written


def _row_runs(study: StudyRuns) -> dict[str, list[str]]:
    """Each configuration's finished runs, by seed (the latest attempt of a seed)."""
    ok = study.runs[study.runs.status == "FINISHED"].sort_values(["seed", "start_time"])
    latest = ok.drop_duplicates(["config_uid", "seed"], keep="last")
    return {uid: list(group.run_id) for uid, group in latest.groupby("config_uid", sort=False)}


def _seeds_line(plan: LoggedPlan, results) -> str:
    auto = plan.auto_seeds
    if auto is None:
        return str(plan.seeds)
    states = [r.state for t in results for r in t.rows if r.state]
    by_state = ", ".join(f"{states.count(s)} {s}" for s in ("resolved", "futile", "open", "failed") if states.count(s))
    return (f"auto, {auto.min_seeds} to {auto.max_seeds} per configuration, more only for configurations an undecided "
            f"row needs (anytime-valid paired t-test, alpha {auto.alpha}, Holm within each table): {by_state}")


def _seed_planning(study: StudyRuns, results) -> Section:
    seeds = study.plan.seeds
    if seeds < 2:
        return Section("Seed planning", [one_seed_message(study.study)])
    parts: list = [intro(DEFAULT_POWER)]
    for p in plan_seeds(results, seeds):
        parts.append(f"Table {p.table}: {p.title}. {describe(p)}")
        if p.std is not None and p.rows:
            parts.append((PAGE_COLUMNS, page_rows(p)))
    return Section("Seed planning", parts)


def _pdf(study: StudyRuns, results, texts, meta: dict[str, str], out: Path, tracking_uri: str) -> Path:
    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    sentences = [table_sentences(t) for t in results]
    sections = []
    for t, text, said in zip(results, texts, sentences, strict=True):
        figs = [figures.table_figure(t, figdir / f"table{t.number}.png")]
        curve = figures.curves_figure(t, study.curves, figdir / f"table{t.number}_curves.png")
        if curve:
            figs.append(curve)
        sections.append((text, said, figs))
    runs = study.runs
    finished = runs[runs.status == "FINISHED"][["config_uid", "seed"]].drop_duplicates()
    planned = sum(len(t.rows) for t in results)
    configs = len({r.config_uid for t in results for r in t.rows})
    auto = study.plan.auto_seeds
    n_runs = configs * study.plan.max_seeds
    # Runs that failed and were not finished by a later attempt (a KILLED attempt was
    # interrupted and queued again: the run is missing, not failed).
    failed = runs[runs.status == "FAILED"][["config_uid", "seed"]].drop_duplicates()
    n_failed = len(failed.merge(finished, how="left", indicator=True).query("_merge == 'left_only'"))
    summary = overview(results, n_runs, len(finished), n_failed)
    summary += [s for said in sentences for s in said]
    section7, note = _section7(study, figdir)
    tags = study.parent["tags"]
    title = [
        ("Study", study.study),
        ("Suite / preset", f"{study.plan.suite} / {study.plan.preset}"),
        ("Dataset", meta["dataset"]),
        ("Backbone", meta["backbone"]),
        ("Epochs", meta["epochs"]),
        ("Seeds", _seeds_line(study.plan, results)),
        ("Rows / runs", f"{planned} rows, {len(finished)} runs finished of the {n_runs} that {auto.max_seeds} seeds "
                        f"each would take: {n_runs - len(finished)} saved by adding seeds only where needed" if auto
                        else f"{planned} rows, {n_runs} runs planned, {len(finished)} finished"),
        ("Date", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
        ("Git commit", tags.get("git_commit", "unknown")),
        ("torch / device", f"{meta['torch']} / {meta['devices']}"),
        ("Runs in MLflow", ui_hint(tracking_uri or "<tracking URI>", study.experiment_id)),
    ]
    appendix = [
        (r.config_uid or "", str(r.seed), r.status, r.rows, r.run_id, r.failure[:80])
        for r in runs.sort_values(["config_uid", "seed", "start_time"]).itertuples()
    ]
    cost = figures.cost_figure(results, figdir / "cost.png")
    return write_pdf(out / "ablation_report.pdf", title, summary, sections, section7, note, cost, appendix,
                     _seed_planning(study, results))


def _section7(study: StudyRuns, figdir: Path) -> tuple[list[Path], str]:
    uid = _base_uid(study)
    runs = study.runs
    ok = runs[(runs.config_uid == uid) & (runs.status == "FINISHED")].sort_values("seed")
    for r in ok.itertuples():
        exc = study.artifact_json(r.run_id, "excitation.json")
        if exc:
            paths = figures.excitation_figures(exc, figdir / "fig6_excitation.png", figdir / "fig7_excitation.png")
            per_class = next(iter(exc["stages"].values()))["per_class"]
            counts = sorted({v["n"] for v in per_class.values()})
            n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
            return paths, (
                f"Excitations of the SE default configuration (config {uid}, seed {r.seed}), last SE block of "
                f"each stage, averaged over {n} test images per class."
            )
    return [], "No excitation statistics: the default SE configuration has no finished run."


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m report",
                                description="Paper-style ablation tables and a PDF report of a tracked study. "
                                            "Also: python -m report structure")
    p.add_argument("--study", required=True, help="study name (the MLflow experiment)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///runs/mlflow.db)")
    p.add_argument("--out", type=Path, help="output folder (default: reports/<study>)")
    p.add_argument("--format", default=",".join(FORMATS), help=f"comma-separated: {','.join(FORMATS)}")
    p.add_argument("--ui-address", help="the MLflow UI the HTML page's links open (default: the tracking server, "
                                        f"or {UI_ADDRESS}, where `mlflow ui` serves)")
    p.add_argument("--storage-patience", type=int, help="seconds to wait for an unreachable tracking store "
                                                            "(default: 600), then exit with code 75")
    p.add_argument("--no-log", action="store_true", help="do not attach the report to the study's parent run")
    p.add_argument("--stats", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"how rows are compared with their reference (default: {DEFAULT_METHOD}; "
                        "paired only where both rows finished the same seeds)")
    args = p.parse_args(argv)
    formats = _formats(args.format)
    settings = make_settings(args.study, tracking_uri=args.tracking_uri, storage_patience=args.storage_patience)
    uri = settings.tracking_uri
    study = tracking_patience(settings, lambda line: print(line, file=sys.stderr, flush=True))(
        lambda: read_study(uri, args.study))
    out = args.out or Path("reports") / args.study
    written = build_report(study, out, formats, args.stats, uri, args.ui_address)
    if not args.no_log:
        study.attach(written)
    for path in written:
        print(path)
    return 0
