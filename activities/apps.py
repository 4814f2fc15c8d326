from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ActivitiesConfig(AppConfig):
    name = "activities"
    verbose_name = "Profiles and activities"

    def ready(self) -> None:
        from config import lookups
        from config.database import on_connection

        lookups.register()  # `__any` (config/lookups.py)
        # Every new PostgreSQL connection sends aware date-times in UTC (config/database.py).
        connection_created.connect(on_connection, dispatch_uid="config.database.on_connection")
