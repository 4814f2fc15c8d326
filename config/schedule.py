"""Every periodic task, in one place. django-celery-beat's DatabaseScheduler installs these rows at
start-up; operators can see (and pause) them in the admin. Each entry expires so a backlog after
downtime runs once, not once per missed tick."""

from celery.schedules import crontab

BEAT_SCHEDULE = {
    # Every second: a timer is late by at most the wait for the next sweep plus the sweep itself. A
    # sweep that outlasts the second overlaps the next one on another worker process; they claim
    # with SKIP LOCKED, so they share the backlog rather than repeat it.
    "journeys-fire-timers": {
        "task": "journeys.fire_timers",
        "schedule": 1.0,
        "options": {"expires": 1},
    },
    "journeys-enter-scheduled": {
        "task": "journeys.enter_scheduled",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "journeys-backtest": {
        "task": "journeys.backtest",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    "behaviors-backfill": {
        "task": "behaviors.backfill",
        "schedule": 10.0,
        "options": {"expires": 9},
    },
    "segments-refresh": {
        "task": "segments.refresh",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "segments-imports": {
        "task": "segments.imports",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "messaging-deliver": {
        "task": "messaging.deliver",
        "schedule": 5.0,
        "options": {"expires": 4},
    },
    "messaging-recover": {
        "task": "messaging.recover",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "activities-retry-stale-batches": {
        "task": "activities.retry_stale_batches",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "activities-prune-dedupe-keys": {
        "task": "activities.prune_dedupe_keys",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
}
