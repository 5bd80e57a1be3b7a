from django.apps import AppConfig


class CommitteesConfig(AppConfig):
    name = "tocsin.committees"
    label = "committees"

    def ready(self) -> None:
        from tocsin.committees import live_access

        live_access.connect()
