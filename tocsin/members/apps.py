from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "tocsin.members"
    label = "members"

    def ready(self) -> None:
        # Transports have no app of their own: their system check registers here.
        from tocsin.transports import checks  # noqa: F401
