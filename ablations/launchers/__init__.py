"""Where a launch's workers run: local processes (:mod:`.local`) or one SLURM job array
(:mod:`.slurm`). A launcher is handed the worker's entry point; it never imports a command."""
