"""Email over SMTP: text and HTML parts, one-click unsubscribe, one connection per batch.

The worker sends a batch through ``EmailTransport.batch()``: one SMTP connection carries
all of it. Each message is written as bytes directly (the parts' encoding done by the C
codecs of ``binascii``), which costs a fraction of building it with the email package;
any message this writer does not cover (an address that is not plain ASCII, a backend
other than SMTP, such as the test suite's outbox) goes through Django's mail as before.
To a server that advertises PIPELINING (RFC 2920: Postfix, Exim) a message costs two
round trips instead of four.
"""

from __future__ import annotations

import binascii
import email.policy
import email.utils
import functools
import os
import re
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
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


def _plain(value: str) -> bool:
    """Whether ``value`` can go on a header line as it is: printable ASCII (no CR or LF
    can slip in) and well under the 998 characters a line may have."""
    return value.isascii() and value.isprintable() and len(value) < 900


class _Email(EmailMultiAlternatives):
    """An email whose plain ASCII subject is written on one line.

    The email package folds a subject of 70 to 77 ASCII characters before its first word
    ("Subject:" alone, the text on the next line), which a reader parses back with a
    leading space. A subject that is printable ASCII needs no encoding, so it goes on one
    line as it is; any other subject is encoded and folded by the email package."""

    def message(self, *, policy: Any = email.policy.default) -> Any:
        msg = super().message(policy=policy)
        subject = str(self.subject)
        if _plain(subject):
            del msg["Subject"]
            msg["Subject"] = _one_line({"Subject": subject})["Subject"]
        return msg


# --- writing a message as bytes ---


@functools.lru_cache(maxsize=256)
def _header(name: str, value: str) -> bytes:
    """Return the header line(s) for ``value``: on one line when it is plain, else
    encoded and folded by the email package (once per subject, not once per member)."""
    if _plain(value):
        return f"{name}: {value}\r\n".encode("ascii")
    policy = email.policy.SMTP
    return policy.header_factory(name, value).fold(policy=policy).encode("ascii")


@functools.lru_cache(maxsize=64)
def _envelope_from(from_email: str) -> str:
    return email.utils.parseaddr(from_email)[1]


def _encode_part(content_type: str, text: str) -> bytes:
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    if not lines.endswith("\n"):
        lines += "\n"
    data = lines.encode("utf-8")
    if data.isascii() and max(map(len, data.split(b"\n"))) <= 998:
        cte, body = "7bit", data
    else:
        # Quoted-printable keeps text readable to spam filters (base64 text scores).
        cte, body = "quoted-printable", binascii.b2a_qp(data)
    head = (
        f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    )
    return head.encode("ascii") + body.replace(b"\n", b"\r\n")


def _compose(*, from_email: str, address: str, message: Message, headers: dict[str, str]) -> bytes:
    """Return the message as the SMTP DATA bytes (CRLF line ends, before dot-stuffing)."""
    out = [
        _header("From", from_email),
        f"To: {address}\r\n".encode("ascii"),
        _header("Subject", message.subject),
        f"Date: {email.utils.formatdate(localtime=settings.EMAIL_USE_LOCALTIME)}\r\n".encode(
            "ascii"
        ),
    ]
    out += [f"{name}: {value}\r\n".encode("ascii") for name, value in headers.items()]
    out.append(b"MIME-Version: 1.0\r\n")
    text = _encode_part("text/plain", message.text)
    if not message.html:
        out.append(text)
        return b"".join(out)
    boundary = f"=_tocsin_{os.urandom(12).hex()}".encode("ascii")
    out += [
        b'Content-Type: multipart/alternative; boundary="',
        boundary,
        b'"\r\n\r\n--',
        boundary,
        b"\r\n",
        text,
        b"\r\n--",
        boundary,
        b"\r\n",
        _encode_part("text/html", message.html),
        b"\r\n--",
        boundary,
        b"--\r\n",
    ]
    return b"".join(out)


# --- sending ---


def _sendmail(smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes) -> None:
    """Send ``data`` (ASCII, CRLF line ends) from ``sender`` to one ``recipient``, as
    ``smtplib.SMTP.sendmail`` does, raising its exceptions, but without parsing both
    addresses again with the email package for every message (smtplib's ``quoteaddr``
    cost as much as writing the whole message). Both are plain ASCII addresses here."""
    smtp.ehlo_or_helo_if_needed()
    size = f" SIZE={len(data)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
    if smtp.does_esmtp and smtp.has_extn("pipelining"):
        _send_pipelined(smtp, sender, recipient, data, size)
        return
    code, reply = smtp.docmd("mail", f"FROM:<{sender}>{size}")
    if code != 250:
        _after_refusal(smtp, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = smtp.docmd("rcpt", f"TO:<{recipient}>")
    if code not in (250, 251):
        _after_refusal(smtp, code)
        raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
    code, reply = smtp.data(data)
    if code != 250:
        _after_refusal(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def _send_pipelined(
    smtp: smtplib.SMTP, sender: str, recipient: str, data: bytes, size: str
) -> None:
    """Send as ``_sendmail`` does to a server that advertises PIPELINING (RFC 2920):
    MAIL, RCPT and DATA in one write and their three replies read together, then the
    content and its reply. Two round trips a message instead of four."""
    smtp.send(f"MAIL FROM:<{sender}>{size}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n")
    mail_code, mail_reply = smtp.getreply()
    if mail_code == 421:  # the server closes the connection: the other replies never come
        smtp.close()
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    rcpt_code, rcpt_reply = smtp.getreply()
    if rcpt_code == 421:
        smtp.close()
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    data_code, data_reply = smtp.getreply()
    refused = mail_code != 250 or rcpt_code not in (250, 251)
    if refused and data_code == 354:
        # A server must refuse DATA without a recipient; one that did not gets an empty
        # message to no one, and the connection stays usable.
        smtp.send(b".\r\n")
        smtp.getreply()
    if mail_code != 250:
        _after_refusal(smtp, mail_code)
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
    if rcpt_code not in (250, 251):
        _after_refusal(smtp, rcpt_code)
        raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        _after_refusal(smtp, data_code)
        raise smtplib.SMTPDataError(data_code, data_reply)
    # The content as smtplib's data() writes it: a line's leading dot doubled, then
    # the lone dot that ends it.
    content = _LEADING_DOT.sub(b"..", data)
    if not content.endswith(b"\r\n"):
        content += b"\r\n"
    smtp.send(content + b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        _after_refusal(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _after_refusal(smtp: smtplib.SMTP, code: int) -> None:
    """Leave the connection ready for the next message, as smtplib does after a refusal
    (a 421 closes it)."""
    if code == 421:
        smtp.close()
    else:
        with suppress(smtplib.SMTPServerDisconnected):
            smtp.rset()


# What a lost or refused connection raises; anything else is a bug, not the server.
_SMTP_ERRORS = (TimeoutError, smtplib.SMTPException, OSError)


def _connection_lost(e: BaseException) -> bool:
    """Whether after ``e`` the connection is gone and the next message needs a new one."""
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return False
    if isinstance(e, smtplib.SMTPResponseException):
        return e.smtp_code == 421  # the server closes the connection after a 421
    return True


def _transport_error(e: BaseException) -> TransportError:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        # 4xx at RCPT (greylisting, a full mailbox) is worth retrying; 5xx is not.
        codes = [code for code, _msg in e.recipients.values()]
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return TransportError(
            f"recipient refused ({', '.join(map(str, codes))})", permanent=permanent
        )
    if isinstance(e, smtplib.SMTPResponseException):
        return TransportError(f"SMTP {e.smtp_code}", permanent=500 <= e.smtp_code < 600)
    return TransportError(f"SMTP unreachable: {type(e).__name__}")


class EmailTransport(Transport):
    kind = "email"
    label = gettext_lazy("Email")
    optional = False
    address_type = "email"
    # A new SMTP connection pays for itself over many messages: a batch gets another
    # send thread (and connection) only for each this many of its messages.
    messages_per_thread = 100

    def __init__(self) -> None:
        # Inside batch(): the mail backend whose one connection the batch shares, and
        # how many connections failed in a row (two: the server is down).
        self._backend: Any = None
        self._failed_connections = 0
        self._signer: Any = None  # the batch's unsubscribe links' signer

    @contextmanager
    def batch(self) -> Iterator[EmailTransport]:
        """Return a sender whose messages share one SMTP connection, opened by the
        first message and closed at the end.

        A lost connection fails that message (transient: the outbox retries it) and the
        next message opens a new one; if that fails too, the rest of the batch fails at
        once, without waiting for the server's timeout once per message."""
        sender = type(self)()  # a subclass (a test's, say) sends as itself
        sender._backend = mail.mailers.default
        sender._signer = unsubscribe.batch_signer()
        try:
            yield sender
        finally:
            sender._close(quit=True)

    def _close(self, *, quit: bool) -> None:
        backend = self._backend
        if isinstance(backend, SMTPBackend):
            if backend.connection is not None:
                if quit:
                    with suppress(*_SMTP_ERRORS):
                        backend.connection.quit()
                with suppress(*_SMTP_ERRORS):
                    backend.connection.close()
            backend.connection = None
        elif backend is not None:
            with suppress(*_SMTP_ERRORS):
                backend.close()

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        if self._backend is None:
            with self.batch() as sender:
                sender.send(payload, message, idempotency_key=idempotency_key)
            return
        if self._failed_connections >= 2:
            raise TransportError("SMTP unreachable: the connection failed twice in this batch")
        try:
            self._backend.open()
        except _SMTP_ERRORS as e:
            # The server, or our login to it, failed: never the member's address.
            self._failed_connections += 1
            self._close(quit=False)
            raise TransportError(f"SMTP unreachable: {type(e).__name__}") from e
        try:
            self._deliver(payload, message, idempotency_key)
        except _SMTP_ERRORS as e:
            if _connection_lost(e):
                self._failed_connections += 1
                self._close(quit=False)
            raise _transport_error(e) from e
        self._failed_connections = 0

    def _deliver(self, payload: dict[str, Any], message: Message, idempotency_key: str) -> None:
        from_email = settings.DEFAULT_FROM_EMAIL
        domain = from_email.rsplit("@", 1)[-1].strip("> ") or "tocsin"
        address = payload["address"]
        headers = {
            # A stable Message-ID per (alert, endpoint) lets a receiving server drop the
            # duplicate if a crashed worker's batch is sent twice.
            "Message-ID": f"<{idempotency_key}@{domain}>",
            "Auto-Submitted": "auto-generated",
        }
        # Mail providers show an "Unsubscribe" button that turns this one address off
        # (tocsin/transports/unsubscribe.py).
        unsubscribing = unsubscribe.headers_for(payload, signer=self._signer)
        backend = self._backend
        if (
            isinstance(backend, SMTPBackend)
            and backend.connection is not None
            and _plain(address)
            and " " not in address
            and all(_plain(v) for v in (*headers.values(), *unsubscribing.values()))
        ):
            data = _compose(
                from_email=from_email,
                address=address,
                message=message,
                headers={**headers, **unsubscribing},
            )
            _sendmail(backend.connection, _envelope_from(from_email), address, data)
            return
        email = _Email(
            subject=message.subject,
            body=message.text,
            to=[address],
            headers={**headers, **_one_line(unsubscribing)},
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        # The batch's own mailer, whose connection stays open for the next message.
        backend.send_messages([email])
