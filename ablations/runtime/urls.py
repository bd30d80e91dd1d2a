"""Storage and tracking URLs: scheme checks and password redaction."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ConfigError

STORAGE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "mysql", "mysql+pymysql")
TRACKING_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "mysql", "http", "https", "databricks")

_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]+:)(?P<pw>[^@]*)(?P<tail>@)")


def redact(text: str) -> str:
    """Replace the password of every ``scheme://user:password@host`` in ``text`` with ***."""
    return _PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", text)


def scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else ""


def check_url(url: str, valid: tuple[str, ...], flag: str) -> str:
    if scheme(url) not in valid:
        raise ConfigError(
            f"{flag} {redact(url)!r}: unknown scheme {scheme(url) or '(none)'!r}; "
            f"valid schemes: {', '.join(valid)}"
        )
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL; None for a server's URL."""
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def missing(url: str) -> bool:
    """A SQLite store whose file does not exist (opening it, even to read, would create it)."""
    path = sqlite_file(url)
    return path is not None and not path.exists()


def require_existing(url: str, flag: str, hint: str) -> None:
    if missing(url):
        raise ConfigError(f"{flag} {redact(url)}: no such file ({hint})")
