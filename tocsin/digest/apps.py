from django.apps import AppConfig


class DigestConfig(AppConfig):
    name = "tocsin.digest"
    label = "digest"
