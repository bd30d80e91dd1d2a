"""The PDF: title page, computed summary, one section per table, Section 7, appendix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import (
    Image,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from .render import TextTable

PAGE = landscape(A4)
_styles = getSampleStyleSheet()
SMALL = ParagraphStyle("small", parent=_styles["BodyText"], fontSize=8, leading=10)
CELL = ParagraphStyle("cell", parent=_styles["BodyText"], fontSize=8, leading=9.5)
CELL_B = ParagraphStyle("cellb", parent=CELL, fontName="Helvetica-Bold")


def _p(text: str, style=None) -> Paragraph:
    return Paragraph(escape(text), style or _styles["BodyText"])


def _table(t: TextTable) -> Table:
    data = [[Paragraph(f"<b>{escape(c)}</b>", CELL) for c in t.columns]]
    for i, row in enumerate(t.rows):
        data.append([Paragraph(escape(c), CELL_B if (i, j) in t.bold else CELL) for j, c in enumerate(row)])
    widths = [2.8 * cm, 3.0 * cm, 3.0 * cm, 1.6 * cm, 1.8 * cm, 3.6 * cm, 1.2 * cm, 1.7 * cm, 1.7 * cm, 1.8 * cm, 1.8 * cm]
    tbl = Table(data, colWidths=widths[: len(t.columns)], repeatRows=1, hAlign="LEFT")
    tbl.setStyle(TableStyle([
        ("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
        ("LINEBELOW", (0, -1), (-1, -1), 1.0, colors.black),
        ("BACKGROUND", (7, 1), (-1, -1), colors.Color(0.96, 0.96, 0.93)),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    return tbl


def _grid(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    data = [[Paragraph(f"<b>{escape(c)}</b>", CELL) for c in columns]]
    data += [[Paragraph(escape(c), CELL) for c in row] for row in rows]
    tbl = Table(data, repeatRows=1, hAlign="LEFT")
    tbl.setStyle(TableStyle([("LINEABOVE", (0, 0), (-1, 0), 1.0, colors.black),
                             ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                             ("LINEBELOW", (0, -1), (-1, -1), 1.0, colors.black)]))
    return tbl


@dataclass(frozen=True)
class Section:
    """A page of headed paragraphs and tables (columns, rows)."""

    heading: str
    parts: list[str | tuple[tuple[str, ...], list[tuple[str, ...]]]]


def _section(section: Section) -> list:
    story = [_p(section.heading, _styles["Heading1"])]
    for part in section.parts:
        story += [_p(part, SMALL), Spacer(1, 0.15 * cm)] if isinstance(part, str) else [_grid(*part), Spacer(1, 0.3 * cm)]
    return story


def _image(path: Path, width_cm: float) -> Image:
    img = Image(str(path))
    scale = width_cm * cm / img.imageWidth
    img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
    if img.drawHeight > 11 * cm:
        shrink = 11 * cm / img.drawHeight
        img.drawWidth, img.drawHeight = img.drawWidth * shrink, img.drawHeight * shrink
    return img


def write_pdf(
    path: Path,
    title_lines: list[tuple[str, str]],
    summary: list[str],
    sections: list[tuple[TextTable, list[str], list[Path]]],
    section7: list[Path],
    section7_note: str,
    cost: Path | None,
    appendix: list[tuple[str, ...]],
    seed_planning: Section | None = None,
) -> Path:
    doc = SimpleDocTemplate(str(path), pagesize=PAGE, leftMargin=1.5 * cm, rightMargin=1.5 * cm,
                            topMargin=1.3 * cm, bottomMargin=1.3 * cm,
                            title="SE ablation report", author="senet-ablations")
    story = [Spacer(1, 2.5 * cm), _p("Squeeze-and-Excitation ablation report", _styles["Title"]),
             _p("Hu, Shen, Albanie, Sun, Wu, \"Squeeze-and-Excitation Networks\", TPAMI (arXiv 1709.01507)",
                _styles["Italic"]), Spacer(1, 1 * cm)]
    info = Table([[_p(k), _p(v)] for k, v in title_lines], colWidths=[5 * cm, 17 * cm], hAlign="LEFT")
    info.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.grey)]))
    story += [info, PageBreak(), _p("Summary", _styles["Heading1"])]
    story += [_p("• " + s) for s in summary]
    story.append(PageBreak())
    if seed_planning:
        story += _section(seed_planning) + [PageBreak()]
    for table, sentences, figures in sections:
        story += [_p(f"Table {table.number}: {table.title}", _styles["Heading1"]), _table(table),
                  Spacer(1, 0.2 * cm), _p(table.caption, SMALL), Spacer(1, 0.2 * cm)]
        story += [_p(s, SMALL) for s in sentences]
        if len(figures) == 2:
            row = Table([[_image(figures[0], 17.0), _image(figures[1], 8.5)]], hAlign="LEFT")
            story += [Spacer(1, 0.2 * cm), row]
        else:
            story += [Spacer(1, 0.2 * cm)] + [_image(f, 20) for f in figures]
        story.append(PageBreak())
    story += [_p("Section 7: the role of excitation", _styles["Heading1"]), _p(section7_note, SMALL)]
    story += [_image(f, 25) for f in section7]
    if cost:
        story += [PageBreak(), _p("Cost against error", _styles["Heading1"]), _image(cost, 22)]
    story += [PageBreak(), _p("Appendix: every run", _styles["Heading1"])]
    head = ("config_uid", "seed", "status", "rows", "MLflow run id", "note")
    data = [[Paragraph(f"<b>{h}</b>", CELL) for h in head]]
    data += [[Paragraph(escape(c), CELL) for c in row] for row in appendix]
    tbl = Table(data, colWidths=[2.6 * cm, 1.1 * cm, 2.0 * cm, 7.5 * cm, 6.2 * cm, 5.4 * cm], repeatRows=1, hAlign="LEFT")
    tbl.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                             ("LINEBELOW", (0, 1), (-1, -1), 0.2, colors.lightgrey)]))
    story.append(tbl)
    doc.build(story, onLaterPages=_footer, onFirstPage=_footer)
    return path


def _footer(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.drawRightString(PAGE[0] - 1.5 * cm, 0.8 * cm, f"page {doc.page}")
    canvas.restoreState()
