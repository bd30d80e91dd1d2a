"""Training one run: datasets and augmentation on the device, the device itself, the SGD
loop with its checkpoints, the Section 7 excitation statistics, and the dry run's time
estimate. Knows nothing of stores: it is handed a config and a seed."""
