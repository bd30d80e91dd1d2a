"""A row compared with its reference row: what the report prints and ``--seeds auto``
decides by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Comparison:
    """``diff`` = mean(row) - mean(reference), in points, with its 95% interval (``low``,
    ``high``) and p-value, by ``method`` (``welch``, ``paired``, or ``sequential``: the
    anytime-valid test of :mod:`.auto_seeds`, which also gives the paired seeds ``n`` and the
    sd of their differences)."""

    diff: float
    low: float
    high: float
    p: float
    method: str
    n: int | None = None
    sd: float | None = None
