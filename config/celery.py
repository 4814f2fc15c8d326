"""The Celery application; periodic tasks are declared in config/schedule.py."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_prerun

from config.schedule import BEAT_SCHEDULE

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("nudge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = BEAT_SCHEDULE
# Celery's Django fixup closes every database connection before and after each task unless this is set,
# so a busy worker paid a new PostgreSQL connection per task. Keep them, as a web process keeps them
# between requests (CONN_MAX_AGE), recycling all of them every REUSE_TASKS tasks (the fixup counts both
# signals, hence the doubling it does).
DB_REUSE_TASKS = 1000
app.conf["CELERY_DB_REUSE_MAX"] = DB_REUSE_TASKS
app.autodiscover_tasks()


@task_prerun.connect
def database_connections_check(sender: Any = None, **kwargs: Any) -> None:
    """Before each task what Django does before each request: drop a connection that errored or outlived
    CONN_MAX_AGE, and check the rest's health on first use (CONN_HEALTH_CHECKS), so a task after a
    database restart reconnects instead of failing on a dead connection. Eager tasks run inside their
    caller's transaction and are left alone."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections, connections

    if any(conn.in_atomic_block for conn in connections.all(initialized_only=True)):
        return
    close_old_connections()
