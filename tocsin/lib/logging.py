"""Logging that never records who a person is."""

from __future__ import annotations

import logging
import re

_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9a-fA-F]{1,4}:){2,7}[0-9a-fA-F]{1,4}\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+\d{7,15}")
_SERVER_ADDRESSES = {"127.0.0.1", "0.0.0.0"}  # noqa: S104


def scrub(text: str) -> str:
    """Return ``text`` with addresses, emails and phone numbers replaced."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[phone]", text)
    # Loopback and wildcard addresses are the server's own, never a person's.
    text = _IPV4.sub(lambda m: m.group(0) if m.group(0) in _SERVER_ADDRESSES else "[ip]", text)
    return _IPV6.sub("[ip]", text)


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
        return True
