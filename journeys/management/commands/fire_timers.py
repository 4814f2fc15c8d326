"""`manage.py fire_timers`: fire every journey timer due now (what the periodic sweep does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from journeys.runtime import timers_fire


class Command(BaseCommand):
    help = "Fire the journey timers that are due now, in bounded batches, oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500, help="Timers per transaction")

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        self.stdout.write(f"fired {timers_fire(batch_size=batch_size, max_batches=1_000_000)}")
