from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "tocsin.members"
    label = "members"
