from django.apps import AppConfig


class PublicConfig(AppConfig):
    name = "tocsin.public"
    label = "public"
