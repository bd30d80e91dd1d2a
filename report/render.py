"""Text tables for people and papers: Markdown and booktabs LaTeX from one structure."""

from __future__ import annotations

from dataclasses import dataclass, field


def fixed(v: float | None, digits: int = 2) -> str:
    """A table cell: the value with ``digits`` decimals, or an em dash for none."""
    return "—" if v is None else f"{v:.{digits}f}"


@dataclass(frozen=True)
class TextTable:
    """A table of formatted cells; ``bold`` marks (row, column) cells to emphasise."""

    number: int
    title: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    bold: frozenset[tuple[int, int]] = field(default_factory=frozenset)


def to_markdown(tables: list[TextTable]) -> str:
    out = []
    for t in tables:
        out.append(f"### Table {t.number}: {t.title}\n")
        out.append("| " + " | ".join(t.columns) + " |")
        out.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(t.columns))) + "|")
        for i, row in enumerate(t.rows):
            cells = [f"**{c}**" if (i, j) in t.bold and c else c for j, c in enumerate(row)]
            out.append("| " + " | ".join(cells) + " |")
        out.append(f"\n{t.caption}\n")
    return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    text = "".join(_TEX.get(ch, ch) for ch in text)
    return text.replace("±", r"$\pm$").replace("†", r"$^\dagger$").replace("—", "--")


def to_latex(tables: list[TextTable]) -> str:
    out = ["% Requires \\usepackage{booktabs}"]
    for t in tables:
        spec = "l" + "r" * (len(t.columns) - 1)
        out += [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{Table {t.number}: {tex_escape(t.title)}. {tex_escape(t.caption)}}}",
            rf"\begin{{tabular}}{{{spec}}}",
            r"\toprule",
            " & ".join(tex_escape(c) for c in t.columns) + r" \\",
            r"\midrule",
        ]
        for i, row in enumerate(t.rows):
            cells = [rf"\textbf{{{tex_escape(c)}}}" if (i, j) in t.bold and c else tex_escape(c) for j, c in enumerate(row)]
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)
