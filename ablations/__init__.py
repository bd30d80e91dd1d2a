"""What an experiment is and how it runs: config, the paper's tables, plan, data, trainer,
tracking (the only mlflow importer) and the sweep engine (the only optuna importer)."""
