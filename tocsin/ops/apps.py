from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "tocsin.ops"
    label = "ops"
