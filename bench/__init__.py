"""Benchmarks (`make bench`): each measures Nudge and its same-run ceiling, and reports the ratio."""
