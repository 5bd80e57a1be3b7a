from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "tocsin.alerts"
    label = "alerts"

    def ready(self) -> None:
        # Connects the signals that log area changes for the targeting index, and the one
        # that cancels deliveries to a member removed from their last committee.
        from tocsin.alerts import cellindex, outbox  # noqa: F401
