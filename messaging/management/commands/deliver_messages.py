"""`manage.py deliver_messages`: send every queued message that is due (what the periodic task does),
after handing back the ones whose sender died."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.delivery import messages_deliver, messages_recover


class Command(BaseCommand):
    help = "Send the queued messages that are due, in bounded batches, oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=100, help="Messages claimed per transaction")

    def handle(self, *args: Any, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        recovered = messages_recover()
        sent = messages_deliver(batch_size=batch_size, max_batches=1_000_000, budget_seconds=float("inf"))
        self.stdout.write(f"sent {sent} (handed back {recovered} interrupted)")
