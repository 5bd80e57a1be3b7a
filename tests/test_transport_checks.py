"""`manage.py check` says which optional channels are off and what a half-done setup lacks."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import checks as django_checks
from django.core.management import call_command

from tocsin.transports import checks as channel_checks
from tocsin.transports import registry as transports_registry
from tocsin.transports.base import Transport


class FakeSignal(Transport):
    kind = "signal"
    label = "Signal"
    own_settings = ("SIGNAL_API_URL", "SIGNAL_NUMBER")

    @classmethod
    def problems(cls) -> list[str]:
        missing = []
        if not django_settings.SIGNAL_API_URL:
            missing.append("TOCSIN_SIGNAL_API_URL is not set")
        if not django_settings.SIGNAL_NUMBER:
            missing.append("TOCSIN_SIGNAL_NUMBER is not set")
        return missing


@pytest.fixture
def only_signal(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:
    """A server whose only optional channel module is Signal, on an https site."""
    monkeypatch.setattr(transports_registry, "_channels", lambda: [FakeSignal])
    settings.SITE_URL = "https://tocsin.example.org"
    settings.SIGNAL_API_URL = ""
    settings.SIGNAL_NUMBER = ""
    return settings


def messages() -> list[django_checks.CheckMessage]:
    return channel_checks.check_channels()


def test_it_says_an_unconfigured_channel_is_off(only_signal: Any) -> None:
    [message] = messages()
    assert message.level == django_checks.INFO
    assert message.id == "channels.I001"
    assert message.msg.startswith("Signal is off:")
    assert "TOCSIN_SIGNAL_API_URL" in message.msg


def test_it_warns_about_a_partly_configured_channel(only_signal: Any) -> None:
    only_signal.SIGNAL_API_URL = "http://127.0.0.1:8080"
    [message] = messages()
    assert message.level == django_checks.WARNING
    assert message.id == "channels.W001"
    assert "TOCSIN_SIGNAL_NUMBER is not set" in message.msg
    assert "TOCSIN_SIGNAL_API_URL is not set" not in message.msg
    assert "TOCSIN_SIGNAL_API_URL" in message.hint


def test_it_says_nothing_about_a_configured_channel(only_signal: Any) -> None:
    only_signal.SIGNAL_API_URL = "http://127.0.0.1:8080"
    only_signal.SIGNAL_NUMBER = "+12135550100"
    assert messages() == []


def test_it_says_nothing_about_a_channel_module_that_is_not_there(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    monkeypatch.setattr(transports_registry, "_channels", lambda: [])
    settings.SITE_URL = "https://tocsin.example.org"
    assert messages() == []


def test_it_never_prints_a_secret(only_signal: Any) -> None:
    only_signal.SIGNAL_API_URL = "http://user:hunter2@127.0.0.1:8080"
    assert all("hunter2" not in f"{m.msg} {m.hint}" for m in messages())


@pytest.mark.parametrize("url", ["http://tocsin.example.org", "http://203.0.113.7:8000"])
def test_it_warns_when_the_public_site_is_plain_http(only_signal: Any, url: str) -> None:
    only_signal.SITE_URL = url
    warnings = [m for m in messages() if m.id == "channels.W002"]
    assert len(warnings) == 1
    assert "https" in warnings[0].msg


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://localhost:8000", "https://tocsin.example.org"]
)
def test_it_allows_http_on_this_machine(only_signal: Any, url: str) -> None:
    only_signal.SITE_URL = url
    assert not [m for m in messages() if m.id == "channels.W002"]


def test_a_fresh_install_has_no_errors(db: None, settings: Any) -> None:
    settings.SITE_URL = "http://127.0.0.1:8000"
    found = django_checks.run_checks()
    assert [m for m in found if m.level >= django_checks.ERROR] == []
    call_command("check")  # raises SystemCheckError on an error


def test_the_check_is_registered() -> None:
    assert channel_checks.check_channels in django_checks.registry.registry.get_checks()
