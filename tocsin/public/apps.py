from django.apps import AppConfig


class PublicConfig(AppConfig):
    name = "tocsin.public"
    label = "public"

    def ready(self) -> None:
        from tocsin.public import checks  # noqa: F401
