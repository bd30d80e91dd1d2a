"""Side-by-side benchmarks: every figure is a ratio of two measurements taken alternately
in one process, so it holds on a noisy machine."""
