from django.apps import AppConfig


class CommitteesConfig(AppConfig):
    name = "tocsin.committees"
    label = "committees"
