"""``--workers 1``: the runs train in the launching process, one after another, with a
progress bar on a terminal (a line per run elsewhere)."""

from __future__ import annotations

import sys
import time

from ..engine import Worker
from ..experiment.plan import Plan
from .base import Launched, Launcher, Queued


class InProcess(Launcher):
    def describe(self) -> str:
        return "launcher: this process trains the queued runs one after another"

    def run(self, queued: Queued, plan: Plan) -> Launched:
        started = time.perf_counter()
        total = len(plan.runs)
        bar = None
        if self.settings.progress and sys.stderr.isatty():
            from tqdm import tqdm  # only on a terminal

            bar = tqdm(total=total, initial=queued.finished_before, desc="sweep", unit="run", dynamic_ncols=True)
        finished = [queued.finished_before]

        def on_done(run, result: str, seconds: float) -> None:
            finished[0] += 1
            if bar:
                bar.update(1)
                bar.set_postfix_str(f"{run.name}: {result}")
            else:
                print(f"[{finished[0]}/{total}] {run.name}: {result} ({seconds:.1f} s)", flush=True)

        say = bar.write if bar else (lambda line: print(line, flush=True))
        runner = Worker(self.settings, queued.parent_tags, on_done, queued.storage, queued.tracker, say=say)
        try:
            runner.run_forever()
        finally:
            if bar:
                bar.close()
        return Launched(self.counts(queued, plan), time.perf_counter() - started,
                        unfinished="left unfinished by a worker that stopped early")
