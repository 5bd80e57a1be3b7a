from django.apps import AppConfig, apps


class LegalConfig(AppConfig):
    name = "tocsin.legal"
    label = "legal"

    def ready(self) -> None:
        from tocsin.legal import checks  # noqa: F401 (registers the start-up check)

        # Panic triggers come from the family plans (tocsin.family), which never import
        # legal: legal listens. Until that app is installed there is nothing to hear.
        if apps.is_installed("tocsin.family"):
            from tocsin.legal import receivers

            receivers.connect()
