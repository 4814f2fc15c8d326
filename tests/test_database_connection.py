"""What every PostgreSQL connection is given (config/database.py): date-times read by psycopg's C loader,
aware and in UTC as Django's own loader gives them, on the ORM's cursors and the raw ones alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from config.database import UtcTimestamptzLoader
from config.sql import execute
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db


def test_timestamps_are_read_by_the_c_loader() -> None:
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, 0)
    assert loader is UtcTimestamptzLoader
    assert type(loader(1184)._loader).__module__.startswith("psycopg_binary")


@pytest.mark.parametrize("text", ["2020-01-01T00:00:00+03", "2020-06-30T23:59:59.999999-09:30", "0001-01-01T00:00Z"])
def test_raw_and_orm_cursors_read_aware_utc(text: str) -> None:
    expected = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    ((raw,),) = execute("SELECT %s::timestamptz", [text])
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [text])
        ((orm,),) = cursor.fetchall()
    for value in (raw, orm):
        assert value == expected and value.tzinfo == UTC


def test_a_model_round_trips_its_time() -> None:
    moment = datetime(2024, 3, 31, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=14)))
    workspace = Workspace.objects.create(name="Clock")
    Workspace.objects.filter(pk=workspace.pk).update(created_at=moment)
    stored = Workspace.objects.get(pk=workspace.pk).created_at
    assert stored == moment and stored.tzinfo == UTC


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (datetime(2024, 1, 1, 23, 30, tzinfo=timezone(timedelta(hours=-22))), datetime(2024, 1, 2, 21, 30, tzinfo=UTC)),
        (datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=5))), datetime.min.replace(tzinfo=UTC)),
        (datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))), datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_written_times_are_utc_and_clamped(given: datetime, stored: datetime) -> None:
    """Offsets PostgreSQL refuses become UTC; a moment beyond Python's years is clamped, not a 500."""
    ((value,),) = execute("SELECT %s::timestamptz", [given])
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz", [given])
        ((orm,),) = cursor.fetchall()
    assert value == orm == stored
