"""Email settings: the operator's TOCSIN_SMTP_* variables configure Django's default mailer
(settings.MAILERS), not the EMAIL_* settings Django 6.1 deprecates, so a start-up prints
no deprecation warning and the next Django still sends the alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import DEPRECATED_EMAIL_SETTINGS
from django.core import mail
from django.utils.deprecation import RemovedInDjango2028Warning

from tests.peers.smtp import SMTPPeer, mail_settings
from tocsin.transports.base import Message
from tocsin.transports.email import EmailTransport

# Loads the real settings with every Django 2028 deprecation an error, then prints what
# the default mailer took from the environment.
SHOW_MAILER = """
import json, warnings
from django.utils.deprecation import RemovedInDjango2028Warning
warnings.simplefilter("error", RemovedInDjango2028Warning)
import django
django.setup()
from django.core import mail
m = mail.mailers.default
print(json.dumps([type(m).__name__, m.host, m.port, m.username, m.password, m.use_tls,
                  m.use_ssl, m.timeout]))
"""


def _mailer(**environ: str) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOCSIN_SMTP_", "PYTHONWARN"))}
    env |= {"DJANGO_SETTINGS_MODULE": "tocsin.settings", **environ}
    done = subprocess.run(
        [sys.executable, "-c", SHOW_MAILER], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_operators_smtp_variables_configure_the_default_mailer() -> None:
    found = _mailer(
        TOCSIN_SMTP_HOST="smtp.example.org",
        TOCSIN_SMTP_PORT="2525",
        TOCSIN_SMTP_USER="tocsin",
        TOCSIN_SMTP_PASSWORD="correct horse",
        TOCSIN_SMTP_STARTTLS="1",
    )
    assert found == [
        "EmailBackend",
        "smtp.example.org",
        2525,
        "tocsin",
        "correct horse",
        True,
        False,
        20,
    ]


def test_with_no_smtp_variables_the_mailer_is_the_local_one_on_port_25() -> None:
    assert _mailer() == ["EmailBackend", "localhost", 25, "", "", False, False, 20]


def test_the_settings_name_no_deprecated_email_setting() -> None:
    import tocsin.settings

    assert tocsin.settings.MAILERS["default"]["BACKEND"].endswith("smtp.EmailBackend")
    assert not [n for n in DEPRECATED_EMAIL_SETTINGS if hasattr(tocsin.settings, n)]


@pytest.fixture
def smtp(settings: Any) -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        mail_settings(settings, peer)
        yield peer


def test_an_email_that_needs_djangos_composer_goes_through_the_batchs_own_connection(
    smtp: SMTPPeer,
) -> None:
    # A display name in the address: the transport hands the message to the mailer's
    # open connection (send_messages), not to a second connection.
    message = Message(
        subject="Redada", text="Ahora.", url="https://tocsin.example/a/x/", html="<p>Ahora.</p>"
    )
    with warnings.catch_warnings(), EmailTransport().batch() as sender:
        warnings.simplefilter("error", RemovedInDjango2028Warning)
        for n in range(3):
            sender.send(
                {"address": f"Rosa Díaz <rosa{n}@example.org>"}, message, idempotency_key=f"a1-e{n}"
            )
    assert len(smtp.messages) == 3
    assert smtp.connections == 1
    assert mail.outbox == []
