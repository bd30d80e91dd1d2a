"""``python -m report --study NAME`` (study report), ``python -m report seeds --study NAME``
(how many seeds it needs), ``python -m report structure`` or ``python -m report sequential
--simulate`` (the error rate of ``--seeds auto``'s test)."""

from __future__ import annotations

import sys

from ablations import tracking
from ablations.errors import ConfigError
from ablations.runtime.outage import EXIT_UNREACHABLE, StoreUnreachable
from ablations.runtime.urls import redact


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    tracking.quiet()
    try:
        if argv[:1] == ["structure"]:
            from .structure_table import main as structure_main  # each command's own dependencies, when asked

            return structure_main(argv[1:])
        if argv[:1] == ["noise"]:
            from .noise import main as noise_main  # each command's own dependencies, when asked

            return noise_main(argv[1:])
        if argv[:1] == ["sequential"]:
            from .auto_seeds import main as sequential_main  # each command's own dependencies, when asked

            return sequential_main(argv[1:])
        if argv[:1] == ["seeds"]:
            from .seeds import main as seeds_main  # each command's own dependencies, when asked

            return seeds_main(argv[1:])
        from .study import main as study_main  # reportlab, matplotlib: not for the other commands

        return study_main(argv)
    except ConfigError as err:
        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2
    except StoreUnreachable as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_UNREACHABLE


def run() -> None:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
