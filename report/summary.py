"""Summary sentences computed from the results; nothing here is pre-written conclusion."""

from __future__ import annotations

from scipy import stats

from .tables import RowResult, TableResult, interval


def _noise(r: RowResult) -> str:
    """The verdict on the Holm-adjusted p, with the interval on the difference."""
    c = r.comparison
    if c is None or r.p_adjusted is None:
        return "untested: fewer than two seeds"
    if r.state is not None:  # --seeds auto
        verdict = "resolved, beyond seed noise" if r.state == "resolved" else f"{r.state}, not resolved"
        return f"{verdict}: {c.diff:+.2f} points, 95% confidence sequence {interval(c)}, adjusted p = {r.p_adjusted:.2g}"
    verdict = "beyond seed noise" if r.differs else "within seed noise"
    return f"{verdict}: {c.diff:+.2f} points, 95% CI {interval(c)}, adjusted p = {r.p_adjusted:.2g}"


def _params(r: RowResult) -> str:
    return f"{r.params_m:.3f} M params" if r.params_m is not None else "unknown params"


def table_sentences(t: TableResult) -> list[str]:
    done = [r for r in t.rows if r.top1]
    if not done:
        return [f"Table {t.number}: no finished runs yet."]
    best = min(done, key=lambda r: r.mean("top1"))
    out = [f"Table {t.number}: the lowest top-1 error is row {best.row} "
           f"({best.mean('top1'):.2f}%, {_params(best)})."]
    refs = {r.reference for r in t.rows if r.reference}
    for ref_label in sorted(refs):
        ref = next((r for r in done if r.row == ref_label), None)
        if ref is None:
            out.append(f"The reference row {ref_label} has no finished run.")
            continue
        if ref is not best:
            gap = ref.mean("top1") - best.mean("top1")
            out.append(f"The reference row {ref.row} is {gap:.2f} points above it "
                       f"({_noise(best) if best.reference == ref.row else 'reference vs best'}), "
                       f"at {_params(ref)} against {_params(best)}.")
        better = [r for r in done if r.reference == ref.row and r.differs and r.mean("top1") < ref.mean("top1")]
        worse = [r for r in done if r.reference == ref.row and r.differs and r.mean("top1") > ref.mean("top1")]
        if better:
            out.append(f"Better than {ref.row} beyond seed noise: {', '.join(r.row for r in better)}.")
        if worse:
            out.append(f"Worse than {ref.row} beyond seed noise: {', '.join(r.row for r in worse)}.")
        if not better and not worse and any(r.p_adjusted is not None for r in done):
            out.append(f"No row differs from {ref.row} beyond seed noise.")
    pairs = [(r.mean("top1"), r.paper.top1_err) for r in done if r.paper and r.paper.top1_err is not None]
    if len(pairs) >= 3:
        rho = stats.spearmanr([a for a, _ in pairs], [b for _, b in pairs]).statistic
        if rho == rho:  # not NaN
            out.append(f"Rank correlation of our row order with the paper's: Spearman rho = {rho:.2f} "
                       f"over {len(pairs)} rows.")
    missing = [r.row for r in t.rows if r.status in ("failed", "missing")]
    if missing:
        out.append(f"No result (failed or missing): {', '.join(missing)}.")
    return out


def overview(results: list[TableResult], runs_total: int, finished: int, failed: int) -> list[str]:
    rows = [r for t in results for r in t.rows]
    full = sum(r.status == "ok" for r in rows)
    return [
        f"{finished} of {runs_total} planned runs finished, {failed} failed (no attempt of them finished).",
        f"{full} of {len(rows)} table rows have results for every seed.",
    ]
