from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "tocsin.intake"
    label = "intake"
