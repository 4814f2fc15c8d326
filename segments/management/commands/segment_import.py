"""`manage.py segment_import FILE --workspace SLUG --segment SLUG [--create NAME]`: a CSV of user ids or
emails into a list, with a progress bar; rows that name nobody are reported with their line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from segments import lists, services
from segments.models import ListImport, Segment, SegmentKind
from workspaces.models import Workspace


class Command(BaseCommand):
    help = (
        "Add the people of a CSV (one user id or email per line, or a header with a user_id and/or email column) "
        "to a list segment. Safe to re-run: people already in the list are left as they are."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--workspace", required=True, help="Workspace slug")
        parser.add_argument("--segment", required=True, help="The list's slug")
        parser.add_argument("--create", metavar="NAME", help="Create the list with this name if it does not exist")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"FILE {path} does not exist or is not a file")
        workspace = Workspace.objects.filter(slug=options["workspace"]).first()
        if workspace is None:
            raise CommandError(f"--workspace {options['workspace']!r} is not a workspace slug")
        segment = Segment.objects.filter(workspace=workspace, slug=options["segment"]).first()
        if segment is None and options["create"]:
            try:
                segment = services.segment_create(
                    workspace=workspace,
                    actor=None,
                    data={"name": options["create"], "slug": options["segment"], "kind": SegmentKind.LIST},
                )
            except services.SegmentError as error:
                raise CommandError(str(error)) from None
        if segment is None:
            raise CommandError(f"--segment {options['segment']!r} is not a segment of {workspace.slug} (--create NAME)")
        try:
            started = lists.list_import_start(segment=segment, actor=None, data=path.read_bytes(), filename=path.name)
        except (lists.ImportRefused, services.SegmentError) as error:
            raise CommandError(str(error)) from None
        with tqdm(
            total=started.rows_total, unit="rows", desc="importing", disable=options["no_progress"], file=self.stderr
        ) as bar:

            def advance(job: ListImport) -> None:
                bar.update(job.cursor - bar.n)

            job = lists.list_import_run(import_id=started.pk, budget_seconds=float("inf"), progress=advance)
        assert job is not None
        for problem in job.problems:
            self.stderr.write(f"line {problem['line']}: {problem['reason']} ({problem['value']!r})")
        if job.rejected > len(job.problems):
            self.stderr.write(f"… and {job.rejected - len(job.problems)} more")
        self.stdout.write(
            f"added {job.added}, already in the list {job.already}, repeated in the file {job.repeated}, "
            f"rejected {job.rejected}"
        )
