from django.apps import AppConfig


class PlacesConfig(AppConfig):
    name = "tocsin.places"
    label = "places"

    def ready(self) -> None:
        from tocsin.places import checks  # noqa: F401 - registers the system check
