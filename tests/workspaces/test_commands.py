"""`manage.py workspace_create` prints working credentials; bad arguments are refused clearly."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import SegmentClient
from workspaces.models import ApiToken, Membership, Role, Workspace, WriteKey

pytestmark = pytest.mark.django_db


def test_workspace_create_prints_json_with_working_keys():
    out = StringIO()
    call_command("workspace_create", "Acme Mobile", "--owner", "boss@acme.test", stdout=out)
    created = json.loads(out.getvalue())
    assert set(created) >= {"workspace", "write_key", "api_token"}
    workspace = Workspace.objects.get(slug=created["workspace"])
    assert Membership.objects.get(workspace=workspace).role == Role.OWNER
    # Shown once: only hashes are stored.
    assert not WriteKey.objects.filter(key_hash=created["write_key"]).exists()
    assert not ApiToken.objects.filter(token_hash=created["api_token"]).exists()
    client = Client()
    assert (
        SegmentClient(client, created["write_key"]).post("/v1/track", {"userId": "u", "event": "x"}).status_code == 200
    )
    answer = client.get("/api/v1/activities/", HTTP_AUTHORIZATION=f"Bearer {created['api_token']}")
    assert answer.status_code == 200 and answer.json()["count"] == 1


def test_two_workspaces_with_one_name_get_distinct_slugs():
    slugs = set()
    for _ in range(2):
        out = StringIO()
        call_command("workspace_create", "Twin", "--owner", "twin@x.test", stdout=out)
        slugs.add(json.loads(out.getvalue())["workspace"])
    assert slugs == {"twin", "twin-2"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["", "--owner", "a@x.test"], "NAME"),
        (["Acme", "--owner", "not-an-email"], "--owner"),
        (["Acme", "--owner", "a@x.test", "--timezone", "Mars/Base"], "--timezone"),
    ],
)
def test_bad_arguments_are_refused_naming_them(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("workspace_create", *args, stdout=StringIO())
    assert not Workspace.objects.exists()
