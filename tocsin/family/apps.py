from django.apps import AppConfig


class FamilyConfig(AppConfig):
    name = "tocsin.family"
    label = "family"
