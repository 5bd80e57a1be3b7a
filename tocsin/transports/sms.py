"""SMS through a Twilio-compatible Messages API, or through an HTTP SMS gateway a group runs.

An alert is cut down to at most two SMS segments (``sms_text``) with a short link to the
alert page (``short_url``); ``tocsin.lib.gsm7.segments`` counts them the way the network
will. Status
callbacks and inbound messages arrive at tocsin.hooks.sms.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tocsin.lib import http, untrusted
from tocsin.lib.gsm7 import GSM7, encoding, fits, to_gsm
from tocsin.lib.http import retry_after_seconds
from tocsin.lib.links import read_alert_link_token, read_verify_link_token
from tocsin.transports.base import Message, Transport, TransportError

logger = logging.getLogger(__name__)

# --- short links ---

SHORT_SALT = "tocsin.short-alert-link"
SHORT_VERIFY_SALT = "tocsin.short-verify-link"
# "v-" marks a verifier's link; a plain code has three parts, so "v" as a member id
# (base62 57) never reads as the marker.
_CODE = re.compile(r"^(?:(v)-)?([0-9A-Za-z]{1,12})-([0-9A-Za-z]{1,12})-([0-9A-Za-z]{9})$")


def _mac(member_id: int, incident_id: int, *, verify: bool = False) -> str:
    salt = SHORT_VERIFY_SALT if verify else SHORT_SALT
    digest = salted_hmac(salt, f"{member_id}.{incident_id}", algorithm="sha256").digest()
    # 48 bits: guessing one takes 2**47 tries on average against a rate-limited page.
    return signing.b62_encode(int.from_bytes(digest[:6])).rjust(9, "0")


def short_code(member_id: int, incident_id: int, *, verify: bool = False) -> str:
    """Return a compact signed code (about 20 characters) for one member's link to one
    incident's alert page (or, with ``verify``, to their verifier's answer page): base62
    ids and a truncated HMAC, no database row."""
    member, incident = signing.b62_encode(member_id), signing.b62_encode(incident_id)
    code = f"{member}-{incident}-{_mac(member_id, incident_id, verify=verify)}"
    return f"v-{code}" if verify else code


def read_short_code(code: str) -> tuple[int, int]:
    """Return (member_id, incident_id) of an alert page code; raises
    signing.BadSignature when the code is bad (or is a verifier's code).

    The code itself never expires: the page it leads to is signed with the time of the
    member's latest alert about the incident and expires like any alert link.
    """
    verify, member_id, incident_id = read_any_short_code(code)
    if verify:
        raise signing.BadSignature("a verifier's code")
    return member_id, incident_id


def read_any_short_code(code: str) -> tuple[bool, int, int]:
    """Return (is a verifier's code, member_id, incident_id); raises signing.BadSignature."""
    match = _CODE.match(code)
    if match is None:
        raise signing.BadSignature("malformed short code")
    verify = match[1] == "v"
    member_id, incident_id = signing.b62_decode(match[2]), signing.b62_decode(match[3])
    if not constant_time_compare(match[4], _mac(member_id, incident_id, verify=verify)):
        raise signing.BadSignature("short code signature mismatch")
    return verify, member_id, incident_id


def short_url(message: Message) -> str:
    """Return the short link for the alert or verifier link in ``message.url``, or that
    link itself if it is neither."""
    token = message.url.rstrip("/").rsplit("/", 1)[-1]
    for reader, verify in ((read_alert_link_token, False), (read_verify_link_token, True)):
        try:
            member_id, incident_id = reader(token)
        except (signing.BadSignature, ValueError, TypeError):
            continue
        code = short_code(member_id, incident_id, verify=verify)
        return settings.SITE_URL + reverse("short_alert_link", args=[code])
    return message.url


# --- the text ---


def sms_text(message: Message, language: str | None = None, *, link: str | None = None) -> str:
    """Return the SMS for ``message``: its text with the short link, in at most two
    segments, in GSM-7 whenever the language allows.

    What does not fit goes, in order: the reply hint, the incident summary (cut, then
    dropped), the text itself (cut before the link). The link always stays: the alert
    page has the rest. With ``language`` (or ``message.extra["language"]``) a confirmed
    alert also says how to answer by SMS, when there is room.

    A message whose ``extra["reply"]`` says how to answer by SMS (a sign-up's "reply NO
    to cancel", in its text) keeps it, after the link, whatever else is cut.
    """
    link = link or short_url(message)
    main, _sep, summary = message.text.partition("\n\n")
    main, summary = main.strip(), summary.strip()
    reply = message.extra.get("reply", "")
    if reply:
        main = main.replace(reply, "").strip()
    if message.url and message.url in main:
        main = main.replace(message.url, link)
    elif link not in main:
        main = f"{main} {link}"
    if reply:
        kept = _kept(main, summary, link, reply)
        if kept is not None:
            return kept
    hint = ""
    language = language or message.extra.get("language")
    answers = message.extra.get("purpose", "confirmed") == "confirmed"
    if language and answers and message.extra.get("urgency") == "high":
        with translation.override(language):
            hint = _("Reply 1 if you are on your way, 2 if you cannot come.")

    with_summary = f"{main}\n\n{summary}" if summary else main
    if hint:
        chosen = _best(f"{main} {hint}\n\n{summary}" if summary else f"{main} {hint}")
        if chosen is not None:
            return chosen
    chosen = _best(with_summary)
    if chosen is None and summary:
        chosen = _clip(f"{main}\n\n", summary, "")
    if chosen is None and hint:
        chosen = _best(f"{main} {hint}")
    if chosen is None:
        chosen = _best(main)
    if chosen is not None:
        return chosen
    if not link:  # not an alert (a verification code, a test): no link to keep
        return _clip("", main, "") or to_gsm(main)[:MIN_CUT]
    head = main.rpartition(link)[0].strip() if link in main else main
    return _clip("", head, " " + link) or link


def _kept(main: str, summary: str, link: str, reply: str) -> str | None:
    """Return ``main`` (which holds ``link``) with ``reply`` after it, and the summary
    if there is room; the text before the link is cut when it must be."""
    if summary:
        chosen = _best(f"{main} {reply}\n\n{summary}")
        if chosen is not None:
            return chosen
    chosen = _best(f"{main} {reply}")
    if chosen is not None:
        return chosen
    head = main.rpartition(link)[0].strip() if link in main else main
    return _clip("", head, f" {link} {reply}")


def _best(text: str) -> str | None:
    """Return ``text`` as sent (GSM-7 look-alikes when that makes it GSM-7) if it fits."""
    gsm = to_gsm(text)
    if encoding(gsm) == GSM7:
        return gsm if fits(gsm) else None
    # UCS-2 anyway (an emoji, another script): keep the real accents.
    return text if fits(text) else None


# A cut summary shorter than this says nothing useful: drop it instead.
MIN_CUT = 20


def _clip(before: str, text: str, after: str) -> str | None:
    """Return ``before`` + the longest start of ``text`` (with "...") + ``after`` that
    fits, or None if fewer than MIN_CUT characters of ``text`` would."""
    low, high = 0, len(text)
    best = None
    # The segment count only grows as the kept start grows: binary search.
    while low <= high:
        n = (low + high) // 2
        candidate = _best(f"{before}{text[:n].rstrip()}...{after}")
        if candidate is not None:
            best, low = (candidate, n), n + 1
        else:
            high = n - 1
    if best is None or (best[1] < MIN_CUT and best[1] < len(text)):
        return None
    return best[0]


# --- sending ---

# Seconds to connect, then to wait for the answer. Tests shorten it.
TIMEOUT: tuple[float, float] = (5.0, 15.0)

# Twilio error codes (in a 400) that mean this number can never get our SMS.
NUMBER_CODES = {
    21211: "invalid number",
    21214: "number cannot be reached",
    21610: "member replied STOP",
    21612: "no route to the number",
    21614: "not a mobile number",
}
# Codes (and HTTP statuses) about the operator's account, not the member's number: retried
# and never allowed to disable every member's SMS channel at once.
ACCOUNT_CODES = {20003, 20404, 21212, 21408, 21603, 21606, 21659, 21701, 21702, 21703, 21704}
ACCOUNT_STATUSES = {401, 403, 404}


def twilio_ready() -> bool:
    return bool(
        settings.TWILIO_ACCOUNT_SID
        and settings.TWILIO_AUTH_TOKEN
        and (settings.TWILIO_FROM or settings.TWILIO_MESSAGING_SERVICE_SID)
    )


STATUS_SALT = "tocsin.sms-status"


def status_callback_url(delivery_id: int) -> str:
    token = signing.dumps(delivery_id, salt=STATUS_SALT)
    return settings.SITE_URL + reverse("sms_status", args=[token])


class SmsTransport(Transport):
    kind = "sms"
    label = gettext_lazy("SMS")
    own_settings = (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM",
        "TWILIO_MESSAGING_SERVICE_SID",
        "SMS_GATEWAY_URL",
        "SMS_GATEWAY_TOKEN",
    )
    address_type = "phone"
    confirm_by_code = True
    takes_reports = True
    callback_label = label
    # One account (or one gateway phone) sends for every member: a 429 pauses them all.
    shared_limit = True

    @classmethod
    def problems(cls) -> list[str]:
        if twilio_ready() or settings.SMS_GATEWAY_URL:
            return []
        partly = [
            name
            for name in ("ACCOUNT_SID", "AUTH_TOKEN", "FROM", "MESSAGING_SERVICE_SID")
            if getattr(settings, f"TWILIO_{name}")
        ]
        if partly:
            missing = [
                f"TOCSIN_TWILIO_{name}"
                for name in ("ACCOUNT_SID", "AUTH_TOKEN")
                if not getattr(settings, f"TWILIO_{name}")
            ]
            if not (settings.TWILIO_FROM or settings.TWILIO_MESSAGING_SERVICE_SID):
                missing.append("TOCSIN_TWILIO_FROM or TOCSIN_TWILIO_MESSAGING_SERVICE_SID")
            return [f"set {name}" for name in missing]
        return ["set TOCSIN_TWILIO_* or TOCSIN_SMS_GATEWAY_URL"]

    def send(self, payload: dict[str, Any], message: Message, *, idempotency_key: str) -> None:
        text = sms_text(message)
        if twilio_ready():
            self._twilio(payload["address"], text, message, idempotency_key)
        else:
            self._gateway(payload["address"], text, idempotency_key)

    def _twilio(self, to: str, text: str, message: Message, key: str) -> None:
        sid = settings.TWILIO_ACCOUNT_SID
        data = {"To": to, "Body": text}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            # A messaging service picks the sending number from its pool.
            data["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            data["From"] = settings.TWILIO_FROM
        if message.extra.get("delivery"):
            data["StatusCallback"] = status_callback_url(int(message.extra["delivery"]))
        response = _post(
            f"{settings.TWILIO_API_URL.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json",
            "Twilio",
            data=data,
            auth=(sid, settings.TWILIO_AUTH_TOKEN),
            # Twilio ignores it today; a compatible provider (and the test peer) drops
            # the repeat a crashed worker's batch would otherwise send twice.
            headers={"Idempotency-Key": key},
        )
        _check(response, "Twilio")

    def _gateway(self, to: str, text: str, key: str) -> None:
        body = render_gateway_body(settings.SMS_GATEWAY_BODY, to=to, text=text)
        try:
            json.loads(body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain; charset=utf-8"
        headers = {"Content-Type": content_type, "Idempotency-Key": key}
        if settings.SMS_GATEWAY_TOKEN:
            headers["Authorization"] = f"Bearer {settings.SMS_GATEWAY_TOKEN}"
        response = _post(
            settings.SMS_GATEWAY_URL, "gateway", data=body.encode(), headers=headers, auth=None
        )
        _check(response, "gateway")


def render_gateway_body(template: str, *, to: str, text: str) -> str:
    """Return the gateway's request body: ``{to}`` and ``{text}`` in ``template`` replaced
    by JSON strings (quotes included), in one pass, so a text holding "{to}" stays text."""
    values = {
        "to": json.dumps(to, ensure_ascii=False),
        "text": json.dumps(text, ensure_ascii=False),
    }
    return re.sub(r"\{(to|text)\}", lambda m: values[m[1]], template)


def _post(
    url: str,
    provider: str,
    *,
    data: Any,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
) -> http.Response:
    try:
        return http.post(url, data=data, headers=headers, auth=auth, timeout=TIMEOUT)
    except http.Timeout as e:
        raise TransportError(f"SMS {provider} timed out") from e
    except http.RequestException as e:
        raise TransportError(f"SMS {provider} unreachable: {type(e).__name__}") from e


def _error_code(response: http.Response) -> int | None:
    try:
        code = untrusted.load_json(response.content).get("code")
    except (untrusted.NotJSON, AttributeError):
        return None
    return code if isinstance(code, int) else None


def _check(response: http.Response, provider: str) -> None:
    """Return if the provider accepted the message; raise TransportError otherwise.

    The provider's error code goes to the log for the operator; its message does not,
    since it often quotes the number.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    code = _error_code(response)
    logger.warning("SMS %s answered %s (error code %s)", provider, status, code)
    if status == 429:
        raise TransportError(
            f"SMS {provider} rate limit",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status in ACCOUNT_STATUSES or code in ACCOUNT_CODES:
        logger.error(
            "SMS %s refused the account (%s, code %s): check the settings", provider, status, code
        )
        raise TransportError(f"SMS {provider} refused the account ({status}, code {code})")
    if code in NUMBER_CODES:
        raise TransportError(f"SMS {NUMBER_CODES[code]} ({code})", permanent=True)
    if 400 <= status < 500:
        suffix = f", code {code}" if code is not None else ""
        raise TransportError(f"SMS {provider} refused ({status}{suffix})", permanent=True)
    raise TransportError(f"SMS {provider} error ({status})")
