"""Logging that never records who a person is."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from datetime import UTC, datetime

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
# A candidate only: "12:30:45" looks like one and is a time, so each match must parse.
# Compressed forms ("2001:db8::7") and an embedded IPv4 tail ("::ffff:198.51.100.23") count.
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4}|:)?"
    r"(?![\w:.])"
)
# "%40" is "@" in a query string or a form body.
_EMAIL = re.compile(r"[\w.+%-]+(?:@|%40)[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d{7,15}")
# Loopback and wildcard addresses are the server's own, never a person's.
_SERVER_ADDRESSES = {"127.0.0.1", "0.0.0.0", "::1", "::"}  # noqa: S104


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return text if str(address) in _SERVER_ADDRESSES else "[ip]"


def scrub(text: str) -> str:
    """Return ``text`` with addresses, emails and phone numbers replaced."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    text = _IPV6.sub(_ipv6, text)
    return _IPV4.sub(lambda m: m.group(0) if m.group(0) in _SERVER_ADDRESSES else "[ip]", text)


class PrivacyFilter(logging.Filter):
    """Drop request objects and scrub personal data from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request attaches the request; its repr would carry paths and headers.
        if hasattr(record, "request"):
            record.request = None
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not kill logging
            message = str(record.msg)
        record.msg = scrub(message)
        record.args = ()
        # An exception's message can quote what a person sent ("expected a number but got
        # 'ana@example.org'"): format the traceback here, scrubbed, in place of exc_info.
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (TOCSIN_LOG_FORMAT=json): time, level, logger, message and
    any traceback, as the PrivacyFilter left them (scrubbed). Newlines in a message or a
    traceback are escaped, so every event stays one line."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, str] = {
            # UTC, ISO 8601: collectors on other machines read it without guessing a zone.
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        return json.dumps(event, ensure_ascii=False)
