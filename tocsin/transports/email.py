"""Email over SMTP through Django's mail: text and HTML parts, one-click unsubscribe."""

from __future__ import annotations

import email.policy
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.translation import gettext_lazy

from tocsin.transports import unsubscribe
from tocsin.transports.base import Message, Transport, TransportError


class _OneLine(str):
    """A header value the email package writes on one line as it is.

    A List-Unsubscribe URL is longer than the 78 characters a line should have and has
    no space to fold at: the email package would turn it into RFC 2047 encoded words,
    which mail providers do not decode there, and the button would not work. RFC 5322
    allows lines of up to 998 characters. (The email policy stores a value that has a
    ``name`` as a ready header object and writes it with its ``fold`` method.)
    """

    name: str

    def fold(self, *, policy: Any) -> str:
        return f"{self.name}: {self}{policy.linesep}"


def _one_line(headers: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        out[name] = header = _OneLine(value)
        header.name = name
    return out


class _Email(EmailMultiAlternatives):
    """An email whose plain ASCII subject is written on one line.

    The email package folds a subject of 70 to 77 ASCII characters before its first word
    ("Subject:" alone, the text on the next line), which a reader parses back with a
    leading space. A subject that is printable ASCII needs no encoding, so it goes on one
    line as it is (no line break can slip in: printable excludes CR and LF); any other
    subject is encoded and folded by the email package as before."""

    def message(self, *, policy: Any = email.policy.default) -> Any:
        msg = super().message(policy=policy)
        subject = str(self.subject)
        if subject.isascii() and subject.isprintable() and len(subject) < 900:
            del msg["Subject"]
            msg["Subject"] = _one_line({"Subject": subject})["Subject"]
        return msg


class EmailTransport(Transport):
    kind = "email"
    label = gettext_lazy("Email")
    optional = False
    address_type = "email"

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ") or "tocsin"
        email = _Email(
            subject=message.subject,
            body=message.text,
            to=[payload["address"]],
            headers={
                # A stable Message-ID per (alert, endpoint) lets a receiving server
                # drop the duplicate if a crashed worker's batch is sent twice.
                "Message-ID": f"<{idempotency_key}@{domain}>",
                "Auto-Submitted": "auto-generated",
                # Mail providers show an "Unsubscribe" button that turns this one address
                # off (tocsin/transports/unsubscribe.py).
                **_one_line(unsubscribe.headers_for(payload)),
            },
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as e:
            # 4xx at RCPT (greylisting, a full mailbox) is worth retrying; 5xx is not.
            codes = [code for code, _msg in e.recipients.values()]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            raise TransportError(
                f"recipient refused ({', '.join(map(str, codes))})", permanent=permanent
            ) from e
        except smtplib.SMTPResponseException as e:
            raise TransportError(f"SMTP {e.smtp_code}", permanent=500 <= e.smtp_code < 600) from e
        except (TimeoutError, smtplib.SMTPException, OSError) as e:
            raise TransportError(f"SMTP unreachable: {type(e).__name__}") from e
