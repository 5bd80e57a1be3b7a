from django.apps import AppConfig


class MobilizeConfig(AppConfig):
    name = "tocsin.mobilize"
    label = "mobilize"
