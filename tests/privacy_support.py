"""Support for the privacy scans: what a seized disk or a log reader could find.

``LogCapture`` records every log line of a run as an operator's log would hold it;
``Needles`` are the secret strings of a test (email addresses, push subscriptions) with
every encoding a careless write could store them in; ``ip_addresses`` finds IP addresses
by pattern, so an address the test did not plant is caught too.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Identifying headers every request of a scan carries, with addresses from the ranges kept
# for documentation (RFC 5737, RFC 3849): recognisable, and never a real person's.
CLIENT_IP = "198.51.100.23"
FORWARDED_IPS = ("203.0.113.77", "2001:db8:5e1:2ed::77", "192.0.2.201")


def identifying_headers(user_agent: str) -> dict[str, str]:
    """Return WSGI-style META entries that say who and where a person is."""
    return {
        "REMOTE_ADDR": CLIENT_IP,
        "HTTP_X_FORWARDED_FOR": f"{FORWARDED_IPS[0]}, {FORWARDED_IPS[1]}",
        "HTTP_X_REAL_IP": FORWARDED_IPS[2],
        "HTTP_FORWARDED": f'for={FORWARDED_IPS[0]};proto=https, for="[{FORWARDED_IPS[1]}]"',
        "HTTP_USER_AGENT": user_agent,
    }


class _Collect(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(formatter or logging.Formatter(FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        # Format a copy: caching exc_text on the record would change what other handlers see.
        copy = logging.makeLogRecord(record.__dict__)
        try:
            self.lines.append(self.format(copy))
        except Exception as e:  # a broken record must not hide the others
            self.lines.append(f"UNFORMATTABLE {record.name} {record.msg!r} {record.args!r} {e}")


def _pytest_handler(handler: logging.Handler) -> bool:
    """Return whether ``handler`` writes nothing in production: pytest's capture, or a
    library's NullHandler (Apprise hangs one on its logger)."""
    return type(handler).__module__.startswith("_pytest") or isinstance(
        handler, logging.NullHandler
    )


class LogCapture:
    """Collect, formatted, every log record the run emits, with the root logger at DEBUG.

    The handler goes on the root logger, after the app's own handlers, so it sees what the
    operator's log sees (the app's privacy filter has run) at the most verbose level an
    operator can choose (TOCSIN_LOG_LEVEL=DEBUG). Loggers that do not propagate but have
    handlers of their own (django.request) get the handler too.

    Loggers that neither propagate nor have handlers emit nothing in production. pytest
    hangs its capture handlers on them at the start of each test phase, and on uvicorn's
    access logger that switches the access log on (uvicorn logs access lines only when
    the logger has a handler). So, while capturing, they get back the no handlers they
    have in production: enter the capture in the test's body, after pytest's hooks ran.
    """

    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        # The operator's format: plain lines by default, or tocsin.lib.logging.JsonFormatter
        # (TOCSIN_LOG_FORMAT=json).
        self.handler = _Collect(formatter)
        self._attached: list[logging.Logger] = []
        self._emptied: list[tuple[logging.Logger, list[logging.Handler]]] = []
        self._root_level = logging.root.level

    def __enter__(self) -> LogCapture:
        logging.root.addHandler(self.handler)
        self._attached.append(logging.root)
        for logger in list(logging.root.manager.loggerDict.values()):
            if not isinstance(logger, logging.Logger) or logger.propagate:
                continue
            if any(not _pytest_handler(h) for h in logger.handlers):
                logger.addHandler(self.handler)
                self._attached.append(logger)
            elif logger.handlers:
                self._emptied.append((logger, list(logger.handlers)))
                logger.handlers = []
        logging.root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        for logger in self._attached:
            logger.removeHandler(self.handler)
        for logger, handlers in self._emptied:
            for h in handlers:
                logger.addHandler(h)
        logging.root.setLevel(self._root_level)

    @property
    def lines(self) -> list[str]:
        return list(self.handler.lines)

    @property
    def text(self) -> str:
        return "\n".join(self.handler.lines)


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Needles:
    """Secret strings, each under a label, searched for in several encodings."""

    text: dict[str, str] = field(default_factory=dict)
    binary: dict[str, bytes] = field(default_factory=dict)

    def add(self, label: str, value: str) -> None:
        """Add ``value`` as typed, percent-encoded (query strings, form bodies) and as the
        hex PostgreSQL's dump shows for bytea."""
        self.text[label] = value
        self.text[f"{label} (percent-encoded)"] = quote(value, safe="")
        self.text[f"{label} (hex)"] = value.encode().hex()

    def add_key(self, label: str, b64url: str) -> None:
        """Add a base64url key as text, as standard base64, as raw bytes and as hex."""
        self.add(label, b64url)
        raw = _b64url_decode(b64url)
        self.text[f"{label} (base64)"] = base64.b64encode(raw).decode().rstrip("=")
        self.text[f"{label} (raw, hex)"] = raw.hex()
        self.binary[f"{label} (raw)"] = raw

    def find(self, data: bytes) -> list[str]:
        """Return the labels of the needles found in ``data`` (text ignoring case)."""
        lowered = data.lower()
        hits = [label for label, v in self.text.items() if v.lower().encode() in lowered]
        hits += [label for label, v in self.binary.items() if v in data]
        return hits


# Django's signing format (sessions, signed cookies, tokens): base64url of the value,
# zlib-compressed when the payload starts with ".", then ":" and the signature. Anyone
# holding the data can read it; only the signature needs the key.
_SIGNED = re.compile(rb"(\.?)([A-Za-z0-9_-]{12,}):[A-Za-z0-9_-]")


def signed_payloads(data: bytes) -> Iterator[bytes]:
    """Yield the decoded payloads of Django-signed values found in ``data``."""
    for match in _SIGNED.finditer(data):
        try:
            raw = _b64url_decode(match.group(2).decode())
            if match.group(1):
                raw = zlib.decompress(raw)
        except (binascii.Error, ValueError, zlib.error):
            continue
        yield raw


_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?!\.?\d)"
)
_IPV6_CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:)?(?![0-9A-Za-z:])"
)


def ip_addresses(text: str, *, allow: Iterable[str] = ()) -> list[str]:
    """Return the IPv4 dotted quads and IPv6 addresses in ``text``, except ``allow``.

    IPv6 candidates must parse as an address: "12:30:45" in a timestamp has three groups
    and no "::", so it is not one. The unspecified addresses (0.0.0.0 and ::) are nobody's:
    the privacy middleware puts 0.0.0.0 where a client address was.
    """
    allowed = {"0.0.0.0", "::", *allow}  # noqa: S104
    found: list[str] = []
    for m in _IPV4.finditer(text):
        if m.group(0) not in allowed:
            found.append(m.group(0))
    for m in _IPV6_CANDIDATE.finditer(text):
        candidate = m.group(0)
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if candidate not in allowed and str(address) not in allowed:
            found.append(candidate)
    return found


def context(data: str, needle: str, width: int = 60) -> str:
    """Return ``needle`` with some text either side, to say where a hit was."""
    at = data.lower().find(needle.lower())
    if at < 0:
        return needle
    return repr(data[max(0, at - width) : at + len(needle) + width])


def files_under(*roots: Path) -> list[Path]:
    """Return every regular file under ``roots`` (which may not exist), each once."""
    seen: dict[Path, None] = {}
    for root in roots:
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    seen.setdefault(path.resolve(), None)
        elif root.is_file():
            seen.setdefault(root.resolve(), None)
    return list(seen)
