from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "tocsin.vault"
    label = "vault"
