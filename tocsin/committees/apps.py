from django.apps import AppConfig


class CommitteesConfig(AppConfig):
    name = "tocsin.committees"
    label = "committees"

    def ready(self) -> None:
        from tocsin.committees import live_access, staff
        from tocsin.members import staff as members_staff

        live_access.connect()
        # Members ask about roles through this seam: they sit below committees.
        members_staff.provide(is_staff=staff.is_staff, organizers_of=staff.organizers_of)
