from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "tocsin.demo"
    label = "demo"

    def ready(self) -> None:
        from tocsin.demo.transport import DemoInboxTransport
        from tocsin.transports import registry

        registry.demo_inbox = DemoInboxTransport
