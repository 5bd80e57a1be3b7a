from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "tocsin.demo"
    label = "demo"
