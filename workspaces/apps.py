from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    verbose_name = "Workspaces and access"

    def ready(self) -> None:
        from config import checks  # noqa: F401 - registers the deployment checks
        from workspaces import schema  # noqa: F401 - registers the OpenAPI auth extension
