from django.apps import AppConfig


class PanelConfig(AppConfig):
    name = "panel"
    verbose_name = "Panel"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from panel.sites import panel_site

        # Each app's panel pages live in its `panel.py` (STYLE.md), registered on the members' site.
        autodiscover_modules("panel", "panel_settings", register_to=panel_site)
