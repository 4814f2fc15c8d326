"""WSGI entry point (gunicorn config.wsgi): Django, with the single Segment calls answered ahead of its
handler (activities/ingestion_wsgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from activities.ingestion_wsgi import SingleCallsFirst  # noqa: E402 - needs the apps get_wsgi_application loads

application = SingleCallsFirst(django_application)
