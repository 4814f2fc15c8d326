"""`manage.py import_activities FILE --workspace SLUG`: backfill history from JSON lines or CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from activities.importer import activities_import, records_from_csv, records_from_jsonl
from workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Import historical activities (Segment-shaped JSON lines, or CSV with user_id, anonymous_id, event, "
        "timestamp, message_id, properties and properties.KEY columns). Safe to re-run: messageIds deduplicate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--workspace", required=True, help="Workspace slug")
        parser.add_argument("--format", choices=["jsonl", "csv"], help="Default: from the file extension")
        parser.add_argument("--chunk-size", type=int, default=5000)
        parser.add_argument("--strict", action="store_true", help="Stop at the first bad record")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"FILE {path} does not exist or is not a file")
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"--workspace {options['workspace']!r} is not a workspace slug")
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        kind = options["format"] or ("csv" if path.suffix.lower() == ".csv" else "jsonl")
        with (
            path.open("rb") as stream,
            tqdm(
                total=path.stat().st_size,
                unit="B",
                unit_scale=True,
                desc="importing",
                disable=options["no_progress"],
                file=self.stderr,
            ) as bar,
        ):

            def advance(_: int) -> None:
                bar.update(stream.tell() - bar.n)

            records = records_from_csv(stream) if kind == "csv" else records_from_jsonl(stream)
            report = activities_import(
                workspace_id=workspace.pk,
                records=records,
                chunk_size=options["chunk_size"],
                strict=options["strict"],
                on_chunk=advance,
            )
        for error in report.errors:
            self.stderr.write(error)
        if report.rejected > len(report.errors):
            self.stderr.write(f"… and {report.rejected - len(report.errors)} more rejected records")
        self.stdout.write(f"stored {report.stored}, duplicates {report.duplicates}, rejected {report.rejected}")
        if report.rejected and options["strict"]:
            raise CommandError("stopped at the first bad record (--strict); earlier chunks were stored")
