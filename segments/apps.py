from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        from segments.sqlite import register

        register(connection.connection)


class SegmentsConfig(AppConfig):
    name = "segments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The one way to add SQL functions to every SQLite connection Django opens.
        connection_created.connect(_sqlite_functions, dispatch_uid="segments.sqlite_functions")
