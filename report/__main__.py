"""``python -m report --study NAME`` (study report), ``python -m report seeds --study NAME``
(how many seeds it needs) or ``python -m report structure``."""

from __future__ import annotations

import sys

from ablations.errors import ConfigError
from ablations.urls import redact


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["structure"]:
            from .structure import main as structure_main

            return structure_main(argv[1:])
        if argv[:1] == ["seeds"]:
            from .seeds import main as seeds_main

            return seeds_main(argv[1:])
        from .study import main as study_main

        return study_main(argv)
    except ConfigError as err:
        print(f"error: {redact(str(err))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
