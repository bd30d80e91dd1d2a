"""sweeps.yaml: a base config, suites of tables whose rows are overrides, and presets.

Layout::

    base: {model: ..., data: ..., train: ...}
    seeds: 1
    suites:
      paper:
        description: ...
        tables:
          10:                          # a table: its number in its paper, or a name (ECA2)
            title: Reduction ratio r
            dataset: imagenet          # what its published numbers are on
            reference: "16"            # the row every other row is tested against
            source: Hu et al., ... Table 10
            rows:
              - {row: "2", set: {model.se.reduction: 2}}
              - {row: SE-ResNet-110, reference: ResNet-110, set: {...}}   # a row's own reference
          11:                          # or just the list of rows
            - {row: Max, set: {model.se.squeeze: max}}
    presets:
      tiny: {description: ..., seeds: 1, set: {model.width: 0.125, ...}}

Overrides are dotted keys with YAML values. They apply in this order: base, preset,
``--set`` from the command line, then the row's own overrides (the row is what varies).
A table whose ``dataset`` is one the project trains (``cifar10``, ``cifar100``) is left out
of a sweep that trains another.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ConfigError, did_you_mean, unknown
from .config import NUM_CLASSES, ExperimentConfig
from .schema import parse

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TOP_KEYS = ("base", "seeds", "suites", "presets")
SWEEPS_NAME = "sweeps.yaml"


def packaged_sweeps() -> Traversable:
    """The sweep file that ships with the package (the paper's suites and the presets)."""
    return resources.files(__package__) / SWEEPS_NAME


def default_sweeps() -> Path | Traversable:
    """``--config`` when none is given: a ``sweeps.yaml`` in the working directory, else the
    packaged one."""
    local = Path(SWEEPS_NAME)
    return local if local.is_file() else packaged_sweeps()


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


def load_yaml(path: str | Path | Traversable) -> dict[str, Any]:
    try:
        text = (Path(path) if isinstance(path, str) else path).read_text()
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


TableId = int | str
TABLE_KEYS = ("title", "dataset", "reference", "source", "rows")


@dataclass(frozen=True)
class RowSpec:
    table: TableId
    label: str
    config: ExperimentConfig
    reference: str | None = None  # the row it is tested against; None for a reference row


@dataclass(frozen=True)
class TableSpec:
    """A table of a suite: its rows and what the report says about it."""

    number: TableId
    title: str
    rows: tuple[RowSpec, ...]
    dataset: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Sweep:
    """A resolved suite x preset: validated configs of every row, and the seed count."""

    suite: str
    preset: str
    seeds: int
    base: ExperimentConfig
    tables: tuple[TableSpec, ...]


def declared_tables(data: Mapping[str, Any]) -> dict[TableId, dict[str, Any]]:
    """Each table of every suite -> its ``dataset``, ``source`` and ``references`` ({row: the
    row it is tested against}), read without building configs: for studies whose logged plan
    predates tables carrying them."""
    out: dict[TableId, dict[str, Any]] = {}
    for suite in (data.get("suites") or {}).values():
        for number, spec in ((suite or {}).get("tables") or {}).items():
            meta = spec if isinstance(spec, dict) else {"rows": spec}
            refs = {}
            for row in meta.get("rows") or []:
                ref = row.get("reference", meta.get("reference"))
                if ref is not None and str(ref) != str(row["row"]):
                    refs[str(row["row"])] = str(ref)
            out.setdefault(number, {"dataset": meta.get("dataset"), "source": meta.get("source"), "references": refs})
    return out


def _table_meta(spec: Any, where: str) -> dict[str, Any]:
    """A table given as its list of rows, or as a mapping of TABLE_KEYS."""
    if isinstance(spec, list):
        return {"rows": spec}
    if not isinstance(spec, dict) or "rows" not in spec:
        raise ConfigError(f"{where}: expected a list of rows, or a mapping with {', '.join(TABLE_KEYS)}")
    _check_keys(spec, TABLE_KEYS, where)
    for key in ("title", "dataset", "reference", "source"):
        if spec.get(key) is not None and not isinstance(spec[key], (str, int)):
            raise ConfigError(f"{where}.{key}: expected a string, got {spec[key]!r}")
    return {k: (str(v) if k != "rows" and v is not None else v) for k, v in spec.items()}


def _rows(rows: list, number: TableId, tree: dict[str, Any], reference: str | None, where: str,
          rows_at: str) -> tuple[RowSpec, ...]:
    specs: list[RowSpec] = []
    for i, row in enumerate(rows):
        here = f"{rows_at}[{i}]"
        if not isinstance(row, dict) or "row" not in row:
            raise ConfigError(f"{here}: expected a mapping with 'row' and 'set'")
        _check_keys(row, ("row", "set", "reference"), here)
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
        ref = str(row["reference"]) if row.get("reference") is not None else reference
        specs.append(RowSpec(number, label, cfg, None if ref == label else ref))
    labels = [s.label for s in specs]
    for spec in specs:
        if spec.reference is not None and spec.reference not in labels:
            raise ConfigError(f"{where}: reference {spec.reference!r} of row {spec.label!r} is not a row of the "
                              f"table; rows: {', '.join(labels)}")
    return tuple(specs)


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
    for number, spec in tables_spec.items():
        where = f"suites.{suite}.tables.{number}"
        if not isinstance(number, (int, str)) or isinstance(number, bool):
            raise ConfigError(f"{where}: a table key is its number (10) or a name (ECA2)")
        meta = _table_meta(spec, where)
        if meta.get("dataset") in NUM_CLASSES and meta["dataset"] != base.data.name:
            continue
        rows = meta["rows"]
        if not isinstance(rows, list) or not rows:
            raise ConfigError(f"{where}: expected a non-empty list of rows")
        rows_at = where if isinstance(spec, list) else f"{where}.rows"
        specs = _rows(rows, number, tree, meta.get("reference"), where, rows_at)
        tables.append(TableSpec(number, str(meta.get("title") or f"Table {number}"), specs,
                                meta.get("dataset"), meta.get("source")))
    if not tables:
        raise ConfigError(
            f"suites.{suite}: no table applies to data.name {base.data.name!r}"
        )
    return Sweep(suite, preset, n_seeds, base, tuple(tables))
