"""Settings <-> command lines: the parsers' runtime flags and a worker's command line, both
built from :class:`~.settings.Settings`' fields (their help and choices in the field's
metadata, their defaults the field's)."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .settings import STORAGE_ENV, TRACKING_ENV, Settings, check_study_name, make_settings

_HINTS = typing.get_type_hints(Settings)
FLAGGED = tuple(f for f in dataclasses.fields(Settings) if "flag" in f.metadata)
STATUS_FLAGS = ("study", "storage", "tracking_uri", "run_dir", "storage_patience")  # what ``status`` needs to find a study


def flag_name(f: dataclasses.Field) -> str:
    return f"--no-{f.name}" if _HINTS[f.name] is bool else "--" + f.name.replace("_", "-")


def _argparse_kwargs(f: dataclasses.Field) -> dict[str, Any]:
    meta = dict(f.metadata["flag"])
    tp = _HINTS[f.name]
    if tp is bool:  # on by default; the flag turns it off
        return {"dest": f.name, "action": "store_false", "default": None, "help": f"no {meta['help']}"}
    if get_origin(tp) is Literal:
        meta["choices"] = get_args(tp)
    else:
        meta["type"] = next(a for a in (get_args(tp) or (tp,)) if a is not type(None))
    if f.default not in (dataclasses.MISSING, None):
        meta["help"] += f" (default: {f.default})"
    # None: not given; make_settings fills in the field's default.
    return {"dest": f.name, "default": None, **meta}


def add_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None,
              required: tuple[str, ...] = ()) -> None:
    """Add the runtime flags (all, or those of ``names``) to ``parser``."""
    for f in FLAGGED:
        if names is None or f.name in names:
            parser.add_argument(flag_name(f), required=f.name in required, **_argparse_kwargs(f))


def settings_from_args(args: argparse.Namespace, study: str) -> Settings:
    """The settings the parsed flags ask for, defaults filled in; checks the study name."""
    check_study_name(study)
    given = {f.name: getattr(args, f.name) for f in FLAGGED if f.name != "study" and hasattr(args, f.name)}
    return make_settings(study, **given)


def worker_argv(settings: Settings, threads: int | None = None) -> list[str]:
    """The ``worker`` command's flags that join ``settings``' study from another process (a
    local worker or a cluster task), paths made absolute, progress bars off. Secret settings
    (the store URLs) are left out: they go through the environment (:func:`worker_env`)."""
    worker = dataclasses.replace(settings, progress=False, threads=threads or settings.threads)
    argv: list[str] = []
    for f in FLAGGED:
        value = getattr(worker, f.name)
        if f.metadata["secret"] or value is None or value is True:  # a bool flag only turns its setting off
            continue
        argv += [flag_name(f)] if value is False else [
            flag_name(f), str(Path(value).resolve()) if isinstance(value, Path) else str(value)]
    return argv


def worker_env(settings: Settings, tracking_uri: str | None = None) -> dict[str, str]:
    """The secret settings, for a worker's environment (``tracking_uri``: the address the
    worker logs through, when it is not the study's own store)."""
    return {STORAGE_ENV: settings.storage, TRACKING_ENV: tracking_uri or settings.tracking_uri}
