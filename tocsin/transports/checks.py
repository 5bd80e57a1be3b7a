"""`manage.py check` explains, for each optional channel, whether it is on and what is missing.

A channel nobody configured is an Info (off is a fine choice); a channel with some of its
settings but not all is a Warning, because the operator meant to turn it on. Registered
from tocsin.members.apps (transports has no app of its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

from tocsin.transports import registry
from tocsin.transports.apprise import AppriseTransport
from tocsin.transports.base import Transport

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "testserver"}


@dataclass(frozen=True)
class ChannelStatus:
    transport: type[Transport]
    state: str  # "on", "off", "partly configured"
    problems: list[str]

    @property
    def kind(self) -> str:
        return self.transport.kind

    @property
    def name(self) -> str:
        # Said to the operator, in the language of the check's output.
        return str(self.transport.label)


def configured_settings(transport: type[Transport]) -> list[str]:
    """Return which of the channel's own settings have a value."""
    return [name for name in transport.own_settings if getattr(settings, name, "")]


def statuses() -> list[ChannelStatus]:
    """Return the state of every channel an operator turns on (SMS, Signal, Telegram)."""
    result = []
    for transport in registry._channels():
        problems = list(transport.problems())
        if not problems:
            state = "on"
        elif configured_settings(transport):
            state = "partly configured"
        else:
            state = "off"
        result.append(ChannelStatus(transport, state, problems))
    return result


def _missing(status: ChannelStatus) -> str:
    if status.problems:
        return "; ".join(status.problems)
    return ", ".join(f"TOCSIN_{name}" for name in status.transport.own_settings)


def site_is_insecure() -> bool:
    parts = urlsplit(settings.SITE_URL)
    host = (parts.hostname or "").lower()
    local = host in LOCAL_HOSTS or host.startswith("127.") or host.endswith(".localhost")
    return parts.scheme == "http" and not local


@checks.register()
def check_channels(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    for status in statuses():
        if status.state == "off":
            found.append(
                checks.Info(
                    f"{status.name} is off: {_missing(status)}.",
                    hint="Set these TOCSIN_* variables to turn it on (see "
                    "deploy/tocsin.env.example); until then members cannot choose it.",
                    id="channels.I001",
                )
            )
        elif status.state == "partly configured":
            found.append(
                checks.Warning(
                    f"{status.name} is partly configured and stays off: {_missing(status)}.",
                    hint="Already set: "
                    + ", ".join(f"TOCSIN_{n}" for n in configured_settings(status.transport))
                    + ". Finish the rest, or unset them to keep the channel off.",
                    id="channels.W001",
                )
            )
    if site_is_insecure():
        found.append(
            checks.Warning(
                f"TOCSIN_SITE_URL is {settings.SITE_URL}: provider webhooks (SMS, Telegram) "
                "and web push need https.",
                hint="Put Tocsin behind a TLS proxy and set TOCSIN_SITE_URL=https://…",
                id="channels.W002",
            )
        )
    return found


@checks.register()
def check_apprise(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Committee channels (Apprise) are turned on by TOCSIN_APPRISE_ENABLED, then added
    one by one with `tocsin manage committee_channels add`."""
    problems = AppriseTransport.problems()
    if not settings.APPRISE_ENABLED:
        return [
            checks.Info(
                "Committee channels (Apprise) are off: TOCSIN_APPRISE_ENABLED.",
                hint="Set TOCSIN_APPRISE_ENABLED=1 (see deploy/tocsin.env.example), then add "
                "a committee's room with `tocsin manage committee_channels add`.",
                id="channels.I002",
            )
        ]
    if problems:
        return [
            checks.Warning(
                f"Committee channels (Apprise) are on but stay off: {'; '.join(problems)}.",
                hint="Install the locked dependencies (uv sync).",
                id="channels.W003",
            )
        ]
    return []
