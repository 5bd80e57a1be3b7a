from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "tocsin.alerts"
    label = "alerts"

    def ready(self) -> None:
        # Connects the signals that log area changes for the targeting index.
        from tocsin.alerts import cellindex  # noqa: F401
