"""OpenAPI description of the management API's authentications (loaded by WorkspacesConfig.ready)."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ManagementTokenScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.authentication.ManagementTokenAuthentication"
    name = "managementToken"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A workspace management token (nt_…)"}


class PanelSessionScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.authentication.PanelSessionAuthentication"
    name = "panelSession"

    def get_security_definition(self, auto_schema: object) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "A panel login: the panel's current workspace, your role there; writes need the CSRF header",
        }
