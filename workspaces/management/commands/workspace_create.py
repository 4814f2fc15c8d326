"""`manage.py workspace_create NAME --owner EMAIL`: prints JSON with workspace, write_key, api_token."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from segments.zones import zone_named
from workspaces.services import workspace_create


class Command(BaseCommand):
    help = "Create a workspace with its owner, a write key and a management token (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--owner", required=True, help="Owner's email; the user is created if new")
        parser.add_argument("--timezone", default="UTC", help="IANA time zone of the workspace")

    def handle(self, *args: Any, name: str, owner: str, timezone: str, **options: Any) -> None:
        if not name.strip():
            raise CommandError("NAME must not be empty")
        try:
            validate_email(owner)
        except ValidationError:
            raise CommandError(f"--owner must be an email address; got {owner!r}") from None
        if zone_named(timezone) is None:
            raise CommandError(f"--timezone must be an IANA time zone name; got {timezone[:80]!r}")
        created = workspace_create(name=name.strip(), owner_email=owner, timezone_name=timezone)
        self.stdout.write(
            json.dumps(
                {
                    "workspace": created.workspace.slug,
                    "workspace_id": created.workspace.pk,
                    "write_key": created.write_key,
                    "api_token": created.api_token,
                }
            )
        )
