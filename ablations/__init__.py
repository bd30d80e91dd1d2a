"""What an experiment is and how it runs, in rooms that import only the rooms below them::

    cli                    run_sweep.py: parse, hand to a command
    commands/              launch, worker, status; their parsers; process conventions
    launchers/             where workers run: local processes, a SLURM job array
    engine/                Optuna: the study's store, claims, liveness, outages, the worker
    tracking/  training/   MLflow (write, read, server, UI links) | data, device, trainer
    experiment/  runtime/  configs, sweep file, plan, paper | settings, flags, URLs, signals
    errors, wording        ConfigError; counts in messages

tests/test_layers.py keeps the order.
"""
