"""The names a study's runs carry in MLflow: what the writer logs and the reader looks for."""

ROLE = "senet.role"  # tag: 'study' on the parent run, 'run' on each (config, seed) run
PER_EPOCH = ("train_loss", "train_top1_err", "val_loss", "val_top1_err", "val_top5_err",
             "lr", "epoch_time_s", "images_per_s")
PLAN_ARTIFACT = "plan.json"  # the parent run's tables and rows, so the report shows rows that never ran
