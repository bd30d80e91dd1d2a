"""sweeps.yaml: a base config, suites of tables whose rows are overrides, and presets.

Layout::

    base: {model: ..., data: ..., train: ...}
    seeds: 1
    suites:
      paper:
        description: ...
        tables:
          10:
            - {row: "2", set: {model.se.reduction: 2}}
    presets:
      tiny: {description: ..., seeds: 1, set: {model.width: 0.125, ...}}

Overrides are dotted keys with YAML values. They apply in this order: base, preset,
``--set`` from the command line, then the row's own overrides (the row is what varies).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import ExperimentConfig
from .errors import ConfigError, did_you_mean, unknown
from .paper import PAPER_TABLES
from .schema import parse

TOP_KEYS = ("base", "seeds", "suites", "presets")


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe loader that refuses duplicate keys instead of silently keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r} at line {key_node.start_mark.line + 1}"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(err, 'problem', err)}") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; expected a mapping with keys {', '.join(TOP_KEYS)}")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {', '.join(TOP_KEYS)}, got {type(data).__name__}")
    return data


def parse_set(item: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as YAML."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. model.se.reduction=8")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
    return key.strip(), value


def apply_override(tree: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    parts = dotted.split(".")
    node = tree
    for i, part in enumerate(parts[:-1]):
        child = node.get(part, {})
        if child is None:
            raise ConfigError(
                f"{where}: cannot set {dotted!r} because {'.'.join(parts[: i + 1])} is null"
            )
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: cannot set {dotted!r}: {'.'.join(parts[: i + 1])} is not a mapping")
        node[part] = child = dict(child)
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def with_overrides(tree: Mapping[str, Any], overrides: Mapping[str, Any], where: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(tree))
    for key, value in overrides.items():
        if not isinstance(key, str):
            raise ConfigError(f"{where}: override keys must be dotted strings, got {key!r}")
        apply_override(out, key, value, where)
    return out


@dataclass(frozen=True)
class RowSpec:
    table: int
    label: str
    config: ExperimentConfig


@dataclass(frozen=True)
class TableSpec:
    number: int
    title: str
    rows: tuple[RowSpec, ...]


@dataclass(frozen=True)
class Sweep:
    """A resolved suite x preset: validated configs of every row, and the seed count."""

    suite: str
    preset: str
    seeds: int
    base: ExperimentConfig
    tables: tuple[TableSpec, ...]


def _section(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}.{key}: expected a mapping, got {value!r}")
    return value


def _pick(section: dict[str, Any], name: str, kind: str) -> dict[str, Any]:
    if name not in section:
        raise unknown(kind, name, section)
    value = section[name] or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{kind} {name!r}: expected a mapping, got {value!r}")
    return value


def _check_keys(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r}{did_you_mean(str(key), allowed)}; "
                f"valid keys: {', '.join(allowed)}"
            )


def _seeds(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: seeds must be an integer >= 1, got {value!r}")
    return value


def resolve(
    data: Mapping[str, Any],
    suite: str,
    preset: str,
    sets: Mapping[str, Any] | None = None,
    seeds: int | None = None,
) -> Sweep:
    """Validate the sweep file and build every row's config; raises :class:`ConfigError`."""
    _check_keys(data, TOP_KEYS, "sweeps file")
    suites = _section(data, "suites", "sweeps file")
    presets = _section(data, "presets", "sweeps file")
    suite_spec = _pick(suites, suite, "suite")
    preset_spec = _pick(presets, preset, "preset")
    _check_keys(suite_spec, ("description", "tables"), f"suites.{suite}")
    _check_keys(preset_spec, ("description", "seeds", "set"), f"presets.{preset}")

    tree = _section(data, "base", "sweeps file")
    tree = with_overrides(tree, _section(preset_spec, "set", f"presets.{preset}"), f"presets.{preset}.set")
    tree = with_overrides(tree, sets or {}, "--set")
    base = parse(ExperimentConfig, tree)

    n_seeds = _seeds(
        seeds if seeds is not None else preset_spec.get("seeds", data.get("seeds", 1)),
        "--seeds" if seeds is not None else "seeds",
    )
    tables_spec = _section(suite_spec, "tables", f"suites.{suite}")
    if not tables_spec:
        raise ConfigError(f"suites.{suite}.tables: the suite has no tables")
    tables = []
    for number, rows in tables_spec.items():
        where = f"suites.{suite}.tables.{number}"
        if not isinstance(number, int):
            raise ConfigError(f"{where}: table keys must be integers (the paper's table number)")
        paper = PAPER_TABLES.get(number)
        if paper is not None and paper.dataset in ("cifar10", "cifar100") and paper.dataset != base.data.name:
            continue
        if not isinstance(rows, list) or not rows:
            raise ConfigError(f"{where}: expected a non-empty list of rows")
        specs: list[RowSpec] = []
        for i, row in enumerate(rows):
            here = f"{where}[{i}]"
            if not isinstance(row, dict) or "row" not in row:
                raise ConfigError(f"{here}: expected a mapping with 'row' and 'set'")
            _check_keys(row, ("row", "set"), here)
            label = str(row["row"])
            if any(s.label == label for s in specs):
                raise ConfigError(f"{where}: duplicate row label {label!r}")
            overrides = row.get("set") or {}
            if not isinstance(overrides, dict):
                raise ConfigError(f"{here}.set: expected a mapping of dotted keys")
            try:
                cfg = parse(ExperimentConfig, with_overrides(tree, overrides, f"{here}.set"))
            except ConfigError as err:
                raise ConfigError(f"{where} row {label!r}: {err}") from None
            specs.append(RowSpec(number, label, cfg))
        title = paper.title if paper else f"Table {number}"
        tables.append(TableSpec(number, title, tuple(specs)))
    if not tables:
        raise ConfigError(
            f"suites.{suite}: no table applies to data.name {base.data.name!r}"
        )
    return Sweep(suite, preset, n_seeds, base, tuple(tables))
