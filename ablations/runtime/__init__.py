"""How and where things run, whatever the experiment: settings and their flags, store URLs,
stop signals, children that end with their parent, first use of a fresh database. Imports
nothing of the project but :mod:`ablations.errors`, and neither torch nor MLflow nor Optuna."""
