from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "tocsin.federation"
    label = "federation"
