"""Benchmark settings: production settings plus the bare ceiling view's URL."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# The send benchmark's provider sink listens on loopback (the outbound-address policy refuses it otherwise).
NUDGE_OUTBOUND_ALLOW = ["127.0.0.0/8"]
