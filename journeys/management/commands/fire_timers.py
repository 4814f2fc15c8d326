"""`manage.py fire_timers`: fire every journey timer due now (what the periodic sweep does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from journeys.runtime import timers_fire


class Command(BaseCommand):
    help = "Fire the journey timers that are due now, in bounded batches, oldest first."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"fired {timers_fire()}")
