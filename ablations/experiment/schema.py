"""Typed parsing of nested mappings into frozen dataclasses, with key-naming errors.

One generic walker serves every config dataclass: unknown keys get a "did you mean",
``Literal`` fields list their choices, and a ``ValueError`` raised by a dataclass's own
``__post_init__`` comes back prefixed with the dotted key of the offending section.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from ..errors import ConfigError, did_you_mean

T = TypeVar("T")


def _describe(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin is tuple:
        return f"a list of {_describe(get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(
        tp, str(tp)
    )


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(tp):
            try:
                return _convert(option, value, key)
            except ConfigError as err:
                errors.append(err)
        # A nested section's own error is more useful than "expected X or null".
        nested = [e for e in errors if not str(e).startswith(f"{key}: expected")]
        if nested:
            raise nested[0]
        raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
    if origin is Literal:
        if value in get_args(tp) and type(value) is type(get_args(tp)[0]):
            return value
        raise ConfigError(
            f"{key}: invalid choice {value!r}"
            + (did_you_mean(value, map(str, get_args(tp))) if isinstance(value, str) else "")
            + f"; valid choices: {', '.join(str(a) for a in get_args(tp))}"
        )
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")
        return tuple(_convert(get_args(tp)[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is type(None):
        if value is None:
            return None
    elif dataclasses.is_dataclass(tp):
        return parse(tp, value, key)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported field type {tp!r} at {key}")
    raise ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}")


def parse(cls: type[T], data: Any, key: str = "") -> T:
    """Build ``cls`` from a mapping, checking keys, types and the dataclass's own checks."""
    where = key or "config"
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in fields:
            raise ConfigError(
                f"{_join(key, str(name))}: unknown key{did_you_mean(str(name), fields)}; "
                f"valid keys: {', '.join(fields)}"
            )
    values = {name: _convert(hints[name], data[name], _join(key, name)) for name in data}
    try:
        return cls(**values)
    except ValueError as err:
        raise ConfigError(f"{key}: {err}" if key else str(err)) from None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def to_dict(obj: Any) -> Any:
    """A dataclass as plain nested dicts/lists (tuples become lists), for YAML and JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple):
        return [to_dict(v) for v in obj]
    return obj


def flatten(obj: Any, prefix: str = "", keep: typing.Callable[[dataclasses.Field, Any], bool] | None = None) -> dict[str, Any]:
    """Dotted keys -> leaf values; a ``None`` section is one key with value ``None``.
    ``keep(field, value)`` says which fields (and whole sections) to include."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if keep is not None and not keep(f, value):
            continue
        name = _join(prefix, f.name)
        if dataclasses.is_dataclass(value):
            out.update(flatten(value, name, keep))
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out
