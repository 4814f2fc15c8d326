"""Every periodic task in config/schedule.py names a registered task that beat can actually send."""

from __future__ import annotations

import pytest

from config.celery import app
from config.schedule import BEAT_SCHEDULE


@pytest.mark.parametrize("name", sorted(BEAT_SCHEDULE))
def test_each_periodic_task_can_be_sent(name):
    app.loader.import_default_modules()  # what a worker or beat does at start-up: autodiscover tasks
    entry = BEAT_SCHEDULE[name]
    task = app.tasks[str(entry["task"])]
    assert task.time_limit, f"{entry['task']} has no time limit"
    task.apply_async(**entry.get("options", {}))  # raises if the options and limits are inconsistent
    assert entry["options"].get("expires"), f"{name} has no expiry"
