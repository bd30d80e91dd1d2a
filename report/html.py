"""The study's tables as one self-contained HTML page: attached to the study's parent run,
where MLflow's artifact viewer shows it, and written by ``--format html``.

MLflow shows an HTML artifact in an iframe sandboxed with scripts only, where a link can
take the reader nowhere; so every row also shows, as text to copy, the search filter that
selects its runs in the runs table. Opened as a file, the page's links work: a row's opens
MLflow's Compare page of that row's runs, a table's the Compare page of the table's runs.
No script, stylesheet or font is fetched: the page reads offline.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from ablations.experiment.plan import table_key
from ablations.tracking.links import compare_url, row_filter, runs_view_url, table_filter

from .render import TextTable
from .tables import TableResult

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em; color: #1f2328; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #d0d7de; text-align: right; white-space: nowrap; }
th { border-bottom: 2px solid #1f2328; } td:first-child, th:first-child { text-align: left; }
td.filter { text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em; }
td.filter code { user-select: all; background: #f6f8fa; padding: 0 0.3em; }
.caption { font-size: 0.85em; color: #59636e; max-width: 70em; }
.paper { color: #59636e; } b { font-weight: 650; }
"""


def _link(text: str, url: str | None) -> str:
    text = html.escape(text)
    return f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{text}</a>' if url else text


def to_html(study: str, tables: Sequence[TableResult], texts: Sequence[TextTable],
            row_runs: Mapping[str, Sequence[str]], experiment_id: str, address: str, header: Sequence[tuple[str, str]]
            ) -> str:
    """``row_runs``: the MLflow run ids of each configuration's finished seeds (by config_uid);
    ``address``: the MLflow UI the links open; ``header``: (label, value) lines for the top."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{html.escape(study)}: ablation tables</title><style>{STYLE}</style></head><body>",
           f"<h1>Study {html.escape(study)}</h1>", "<p>"]
    out += [f"{html.escape(k)}: {html.escape(v)}<br>" for k, v in header]
    everything = runs_view_url(experiment_id, address)
    out.append(f"All training runs: {_link('runs table', everything)}</p>")
    for t, text in zip(tables, texts, strict=True):
        runs = [rid for r in t.rows for rid in row_runs.get(r.config_uid, ())]
        runs = list(dict.fromkeys(runs))
        compare = compare_url(runs, experiment_id, address) if runs else None
        filtered = runs_view_url(experiment_id, address, table_filter(t.number))
        out.append(f'<h2 id="{html.escape(table_key(t.number))}">Table {html.escape(str(t.number))}: '
                   f"{html.escape(t.title)}</h2>")
        out.append(f"<p>Its runs: {_link('compare', compare)} · {_link('runs table', filtered)} · filter "
                   f"<code>{html.escape(table_filter(t.number))}</code></p>")
        heads = [html.escape(text.columns[0]), "its runs: search filter", *map(html.escape, text.columns[1:])]
        out.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr></thead><tbody>")
        paper_from = len(text.columns) - sum(c.startswith("paper ") for c in text.columns)
        for i, (r, cells) in enumerate(zip(t.rows, text.rows, strict=True)):
            ids = list(row_runs.get(r.config_uid, ()))
            tds = []
            for j, c in enumerate(cells):
                value = html.escape(c)
                if j == 0:
                    value = _link(c, compare_url(ids, experiment_id, address) if ids else None)
                elif (i, j) in text.bold and c:
                    value = f"<b>{value}</b>"
                tds.append(f'<td class="paper">{value}</td>' if j >= paper_from else f"<td>{value}</td>")
                if j == 0:
                    tds.append(f'<td class="filter"><code>{html.escape(row_filter(t.number, r.row))}</code></td>')
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append(f'</tbody></table><p class="caption">{html.escape(text.caption)}</p>')
    out.append("</body></html>")
    return "\n".join(out)
