from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "tocsin.retention"
    label = "retention"
