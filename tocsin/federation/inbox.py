"""/federation/inbox: a partner network's signed CAP alert lands on our desk as a
report from the channel "partner", for the committees covering its area; never straight
to members (a dispatcher confirms it like any report, and while the incident rests only
on partner networks' reports a second staff member approves its alert, however few it
reaches: tocsin.incidents.twoperson; a "desk only" partner's report alone never backs a
confirmation).

Refused with a 4xx JSON error ``{"error": code, "detail": text}``, and logged with the
code only (no address, no alert text; an accepted alert with the partner's id):
federation off (503), too large (413), unsigned (401), an unknown or disabled partner
(401), a Date or signature time more than five minutes from ours (401), a forged
signature or body (401), a replay of a signature nonce or CAP identifier (409), malformed
CAP (400), an area no committee of ours covers (422), and a partner past its share of
alerts (429: TOCSIN_FEDERATION_ALERTS_PER_10MIN, its Cancels never counted), so that a
partner's key, stolen or misused, cannot flood our desk.
"""

from __future__ import annotations

import logging

from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tocsin.federation import keys, signing
from tocsin.federation.models import Partner, Received, Trust
from tocsin.incidents.reports import OutsideEveryArea, receive_report
from tocsin.intake.models import Channel, Report
from tocsin.lib import ratelimit
from tocsin.public import cap

logger = logging.getLogger(__name__)


class Refused(Exception):
    """A request the inbox refuses: its HTTP status, a code and a sentence for the
    partner's operator."""

    def __init__(self, status: int, code: str, detail: str, *, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.retry_after = retry_after


@csrf_exempt
@require_POST
def inbox(request: HttpRequest) -> JsonResponse:
    try:
        partner, report = accept(request)
    except Refused as e:
        logger.warning("federation alert refused: %s", e.code)
        response = JsonResponse({"error": e.code, "detail": e.detail}, status=e.status)
        if e.retry_after:
            response["Retry-After"] = str(e.retry_after)
        return response
    logger.info("federation alert accepted from partner %s", partner.pk)
    return JsonResponse({"status": "accepted", "report": bool(report)}, status=202)


def _partner(key_id: str) -> Partner | None:
    return Partner.objects.enabled().filter(public_key=key_id).first()


def accept(request: HttpRequest) -> tuple[Partner, Report | None]:
    """Check a partner's request and store its alert; return the partner and the report
    (None for a Cancel). Raises Refused."""
    if not keys.enabled():
        raise Refused(503, "federation_off", "This network does not federate.")
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > cap.MAX_BYTES:
        raise Refused(413, "too_large", f"An alert is at most {cap.MAX_BYTES} bytes.")
    body = request.body
    if len(body) > cap.MAX_BYTES:
        raise Refused(413, "too_large", f"An alert is at most {cap.MAX_BYTES} bytes.")
    if "Signature-Input" not in request.headers or "Signature" not in request.headers:
        raise Refused(401, "unsigned", "Sign the request (RFC 9421, Ed25519).")
    if signing.skewed(request.headers):
        raise Refused(401, "clock_skew", "Date is missing or more than 5 minutes from ours.")
    asked: list[str] = []
    found: list[Partner] = []

    def public(key_id: str) -> ed25519.Ed25519PublicKey | None:
        asked.append(key_id)
        partner = _partner(key_id)
        if partner is None:
            return None
        found.append(partner)
        return keys.load_public(partner.public_key)

    message = signing.Request(
        request.method or "POST",
        settings.SITE_URL + request.get_full_path(),
        dict(request.headers),
    )
    try:
        verified = signing.verify(message, body, public=public)
    except signing.InvalidSignature as e:
        if asked and not found:
            raise Refused(
                401, "unknown_partner", "No enabled partner has the key this was signed with."
            ) from e
        if '"created"' in str(e) or "maximum allowable age" in str(e):
            raise Refused(401, "clock_skew", "The signature was made too long ago.") from e
        raise Refused(401, "bad_signature", "The signature or body digest does not verify.") from e
    partner = found[0]
    if Received.objects.filter(partner=partner, nonce=verified.nonce).exists():
        raise Refused(409, "replay", "This signature nonce was already used.")
    try:
        alert = cap.parse(body)
    except cap.MalformedCap as e:
        raise Refused(400, "malformed_cap", f"Not a usable CAP 1.2 alert: {e}.") from e
    if Received.objects.filter(partner=partner, identifier=alert.identifier).exists():
        raise Refused(409, "replay", "This CAP identifier was already received.")
    if alert.msg_type != cap.CANCEL:
        _take_share(partner)
    try:
        with transaction.atomic():
            received = Received.objects.create(
                partner=partner, identifier=alert.identifier, nonce=verified.nonce
            )
            report = _land(partner, alert)
            received.report_id = report.pk if report else None
            received.save(update_fields=["report_id"])
    except IntegrityError as e:
        raise Refused(409, "replay", "This alert was already received.") from e
    except OutsideEveryArea as e:
        raise Refused(422, "outside_area", "No committee of this network covers the area.") from e
    return partner, report


def _take_share(partner: Partner) -> None:
    """Count one alert from ``partner``; refuse it past the partner's share."""
    source = f"partner-{partner.pk}"
    if ratelimit.count("federation", source) > settings.FEDERATION_ALERTS_PER_10MIN:
        ratelimit.uncount("federation", source)
        raise Refused(
            429,
            "rate_limited",
            f"At most {settings.FEDERATION_ALERTS_PER_10MIN} alerts from one network in"
            " 10 minutes: send this one again later.",
            retry_after=ratelimit.WINDOW_SECONDS,
        )


def _land(partner: Partner, alert: cap.Incoming) -> Report | None:
    """Put the alert on the desk: a report (Alert, Update), or, for a Cancel, set aside
    the reports of the alert it cancels that no incident took up yet."""
    if alert.msg_type == cap.CANCEL:
        cancelled = [part for ref in alert.references.split() for part in ref.split(",")[1:2]]
        ids = Received.objects.filter(
            partner=partner, identifier__in=cancelled, report_id__isnull=False
        ).values_list("report_id", flat=True)
        Report.objects.filter(pk__in=list(ids), incident__isnull=True).update(dismissed=True)
        return None
    # The partner's name only: the desk says in each reader's language what its trust
    # level means for the report (for information only, when "desk only").
    text = f"[{partner.name}] {alert.headline} {alert.description}".strip()
    return receive_report(
        channel=Channel.PARTNER,
        kind=alert.kind,
        lat=alert.lat,
        lng=alert.lng,
        text=text[:1000],
        language=alert.language if alert.language in ("en", "es") else "",
        # "Desk only": for information; a verifier or our own report must back an alert.
        for_information=partner.trust == Trust.DESK,
        partner_certainty=alert.certainty,
    )
