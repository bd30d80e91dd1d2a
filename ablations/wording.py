"""Counts in messages: "1 seed", "3 seeds" ("? epochs" where the count is unknown)."""

from __future__ import annotations


def count(n: int | str, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if str(n) == '1' else plural or noun + 's'}"
