"""Benchmark settings: production settings plus the bare ceiling view's URL."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
