"""Matplotlib figures of a study: per-table errors, curves, excitations (Figs. 6-7), cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .tables import TableResult

DPI = 160


def _subplots(*args, figsize: tuple[float, float], **kwargs):
    """A figure and its axes, without pyplot: no backend is chosen and no figure is kept
    open, whatever the importing program (a notebook, a GUI) uses matplotlib for."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def table_figure(t: TableResult, path: Path) -> Path:
    """Our top-1 error per row (seeds as points, mean and std as a bar), each row's difference
    from its reference with the 95% interval, and the paper's errors where it has some."""
    labels = [r.row for r in t.rows]
    x = np.arange(len(labels))
    if t.published:
        fig, (ax, axd, axp) = _subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2.4, 2]})
    else:
        fig, (ax, axd) = _subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [3, 2.4]})
    for i, r in enumerate(t.rows):
        if r.top1:
            jitter = np.linspace(-0.12, 0.12, len(r.top1)) if len(r.top1) > 1 else [0.0]
            ax.scatter(i + np.asarray(jitter), r.top1, s=14, color="tab:blue", alpha=0.6, zorder=3)
            m = r.mean("top1")
            sd = float(np.std(r.top1, ddof=1)) if len(r.top1) > 1 else 0.0
            ax.errorbar(i, m, yerr=sd, fmt="_", color="black", markersize=16, capsize=4, zorder=4)
        else:
            ax.text(i, 0.5, r.status, transform=ax.get_xaxis_transform(), ha="center", color="tab:red", fontsize=8)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("top-1 error (%)")
    ax.set_title("ours (points: seeds; bar: mean ± std)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    _difference_panel(axd, t, x, labels)
    if t.published:
        _paper_panel(axp, t, x, labels)
    fig.suptitle(f"Table {t.number}: {t.title}", fontsize=10)
    return _save(fig, path)


def _paper_panel(ax, t: TableResult, x, labels) -> None:
    paper = [(i, r.paper.top1_err) for i, r in enumerate(t.rows) if r.paper and r.paper.top1_err is not None]
    if paper:
        ax.plot([i for i, _ in paper], [v for _, v in paper], "D", color="tab:orange")
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    on = {"imagenet": "ImageNet ", "cifar10": "CIFAR-10 ", "cifar100": "CIFAR-100 "}.get(t.dataset or "", "")
    ax.set_title(f"paper ({on}top-1 error, %)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def _difference_panel(ax, t: TableResult, x, labels) -> None:
    """Top-1 error minus the reference row's, with its 95% interval; red where the
    Holm-adjusted test says the row differs."""
    ax.axhline(0, color="grey", lw=0.8)
    for i, r in enumerate(t.rows):
        c = r.comparison
        if r.reference is None:
            ax.text(i, 0, "ref.", ha="center", va="bottom", fontsize=7, color="grey")
        elif c is not None:
            color = "tab:red" if r.differs else "tab:blue"
            ax.errorbar(i, c.diff, yerr=[[c.diff - c.low], [c.high - c.diff]], fmt="o", color=color,
                        markersize=4, capsize=3)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_title("Δ vs reference, 95% CI (red: differs)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def curves_figure(t: TableResult, curves: pd.DataFrame, path: Path) -> Path | None:
    """Validation top-1 error per epoch for each row: mean over seeds, shaded min-max."""
    c = curves[curves.metric == "val_top1_err"]
    if c.empty or c.epoch.nunique() < 2:
        return None
    fig, ax = _subplots(figsize=(6.5, 3.2))
    drawn = 0
    for r in t.rows:
        rc = c[c.config_uid == r.config_uid]
        if rc.empty:
            continue
        g = rc.groupby("epoch").value
        mean, lo, hi = g.mean(), g.min(), g.max()
        epochs = mean.index.to_numpy() + 1
        ax.plot(epochs, mean.to_numpy(), marker="o", markersize=3, label=r.row)
        ax.fill_between(epochs, lo.to_numpy(), hi.to_numpy(), alpha=0.15)
        drawn += 1
    if not drawn:
        return None
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("val top-1 error (%)")
    ax.set_title(f"Table {t.number}: validation error (mean over seeds, shaded min-max)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def excitation_figures(exc: dict, fig6: Path, fig7: Path, n_classes: int = 4) -> list[Path]:
    """Fig. 6: mean excitation per channel of the last SE block of each stage, for a few
    classes and for all; Fig. 7: mean +- std within one class."""
    stages = sorted(exc["stages"], key=int)
    classes = exc["classes"]
    fig, axes = _subplots(1, len(stages), figsize=(3.0 * len(stages), 2.8), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        s = exc["stages"][stage]
        for name in classes[:n_classes]:
            if name in s["per_class"]:
                ax.plot(s["per_class"][name]["mean"], linewidth=0.8, label=name)
        ax.plot(s["all"]["mean"], color="black", linewidth=1.2, label="all")
        ax.set_title(f"stage {stage} ({s['block'].split('.')[-1]}), last block", fontsize=8)
        ax.set_xlabel("channel index", fontsize=8)
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("mean excitation")
    axes[0][-1].legend(fontsize=6)
    fig.suptitle("Excitation per class (paper Fig. 6)", fontsize=10)
    out = [_save(fig, fig6)]
    name = classes[0]
    fig, axes = _subplots(1, len(stages), figsize=(3.0 * len(stages), 2.8), squeeze=False)
    for ax, stage in zip(axes[0], stages, strict=True):
        s = exc["stages"][stage]["per_class"].get(name)
        if s is None:
            continue
        m, sd = np.asarray(s["mean"]), np.asarray(s["std"])
        ax.plot(m, color="tab:blue", linewidth=0.8)
        ax.fill_between(np.arange(len(m)), m - sd, m + sd, alpha=0.3)
        ax.set_title(f"stage {stage}, class {name} (n={s['n']})", fontsize=8)
        ax.set_xlabel("channel index", fontsize=8)
    axes[0][0].set_ylabel("excitation, mean ± std")
    fig.suptitle("Excitation within one class (paper Fig. 7)", fontsize=10)
    out.append(_save(fig, fig7))
    return out


def cost_figure(results: list[TableResult], path: Path) -> Path | None:
    """Top-1 error against parameters and GFLOPs, one point per configuration."""
    seen: dict[str, tuple[str, float, float, float]] = {}
    for t in results:
        for r in t.rows:
            if r.top1 and r.config_uid not in seen:
                seen[r.config_uid] = (f"{t.tag} {r.row}", r.params_m, r.gflops, r.mean("top1"))
    if not seen:
        return None
    fig, axes = _subplots(1, 2, figsize=(9, 3.4))
    for ax, idx, xlabel in ((axes[0], 1, "params (M)"), (axes[1], 2, "GFLOPs")):
        for label, *vals in seen.values():
            ax.scatter(vals[idx - 1], vals[2], s=18)
            ax.annotate(label, (vals[idx - 1], vals[2]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("top-1 error (%)")
        ax.grid(alpha=0.3)
    fig.suptitle("Cost against error, every configuration", fontsize=10)
    return _save(fig, path)
