"""Celery workers keep their database connection between tasks (as web processes do between requests),
instead of Celery's default of closing it around every task; a connection past its age or broken is
still replaced before the next task."""

from __future__ import annotations

import time

import pytest
import redis
from celery.fixups.django import DjangoWorkerFixup
from django.conf import settings
from django.db import connection, transaction

from config.celery import DB_REUSE_TASKS, app, database_connections_check
from messaging.tasks import deliver


def test_celerys_django_fixup_is_told_to_keep_connections():
    assert DjangoWorkerFixup(app).db_reuse_max == DB_REUSE_TASKS


def _worker_backends(database: str, ours: int) -> set[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start::text FROM pg_stat_activity WHERE datname = %s AND pid <> %s "
            "AND backend_type = 'client backend'",
            [database, ours],
        )
        return {(pid, started) for pid, started in cursor.fetchall()}


def _queue_drained(broker: redis.Redis) -> bool:
    """Nothing waiting in either queue (sends travel on `deliver`) and nothing in flight."""
    return broker.llen("celery") == 0 and broker.llen("deliver") == 0 and broker.hlen("unacked") == 0


@pytest.mark.slow
def test_a_worker_runs_many_tasks_on_one_connection(celery_worker_process):
    """(The tasks are sends, on their own queue: a worker started without -Q takes it.)"""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    connection.ensure_connection()
    database, ours = connection.settings_dict["NAME"], connection.connection.info.backend_pid
    deliver.delay()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (_queue_drained(broker) and _worker_backends(database, ours)):
        time.sleep(0.1)
    first = _worker_backends(database, ours)
    assert len(first) == 1, first  # the worker's one connection, kept after its first task
    for _ in range(20):
        deliver.delay()
    while time.monotonic() < deadline and not _queue_drained(broker):
        time.sleep(0.1)
    time.sleep(0.5)  # the last task's postrun
    assert _worker_backends(database, ours) == first  # the same backend, started once


@pytest.mark.django_db(transaction=True)
def test_before_a_task_an_obsolete_connection_is_dropped_and_a_fresh_one_kept(monkeypatch):
    connection.ensure_connection()
    fresh = connection.connection
    database_connections_check(sender=deliver)
    assert connection.connection is fresh  # young and healthy: kept
    monkeypatch.setattr(connection, "close_at", time.monotonic() - 1)  # past CONN_MAX_AGE
    database_connections_check(sender=deliver)
    assert connection.connection is None  # dropped; the task's first query connects again


@pytest.mark.django_db(transaction=True)
def test_a_task_run_inside_a_transaction_keeps_its_callers_connection():
    with transaction.atomic():
        connection.ensure_connection()
        inside = connection.connection
        database_connections_check(sender=deliver)
        assert connection.connection is inside


def test_sends_have_a_queue_of_their_own_that_every_worker_takes_by_default():
    route = app.amqp.router.route({}, "messaging.deliver")
    assert route["queue"].name == "deliver"
    assert app.amqp.router.route({}, "activities.process_batch")["queue"].name == "celery"
    assert {queue.name for queue in app.amqp.queues.values()} == {"celery", "deliver"}  # a plain worker's -Q
