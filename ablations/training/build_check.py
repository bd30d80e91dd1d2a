"""The launch-time build check: every configuration of a plan built once, on the CPU, and counted (parameters and
multiply-adds at its input size): the launch's proof that each can be built before anything
is queued, and the dry run's table."""

from __future__ import annotations

from senet_core import SEConfig, Structure, build_model, structure

from ..errors import ConfigError
from ..experiment.plan import Plan, table_tag
from ..wording import count


def check_builds(plan: Plan) -> dict[str, Structure]:
    """config_uid -> its network's structure. A configuration whose network cannot be built,
    run or counted (a user's module that fails only at some width, or in one integration
    slot) is refused with one line naming the key at fault, its row and the reason."""
    out = {}
    for uid, cfg in plan.configs.items():
        try:
            out[uid] = structure(build_model(cfg.model), cfg.data.input_size)
        except Exception as err:  # whatever a user's module raises
            cells = plan.cells_of(uid)
            table, row = cells[0]
            more = f" (and {count(len(cells) - 1, 'more row')})" if len(cells) > 1 else ""
            se = cfg.model.se
            key = f"model.se.module {se.module!r}" if se is not None and se.module != SEConfig().module else "model"
            reason = (str(err).strip().splitlines() or [""])[0]
            raise ConfigError(f"{key}: row {table_tag(table)} {row!r}{more} cannot be built and counted at "
                              f"{cfg.data.input_size}x{cfg.data.input_size}: {type(err).__name__}: {reason}") from None
    return out
