"""The one error type for bad user input: it names the key or path and the valid choices."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """Bad input; the CLI prints it as one line and exits with code 2."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(kind: str, name: object, choices: Iterable[str]) -> ConfigError:
    choices = [str(c) for c in choices]
    hint = did_you_mean(str(name), choices) if isinstance(name, str) else ""
    return ConfigError(f"unknown {kind} {name!r}{hint}; valid choices: {', '.join(choices)}")
