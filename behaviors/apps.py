from django.apps import AppConfig


class BehaviorsConfig(AppConfig):
    name = "behaviors"
    verbose_name = "Behaviors"
