"""What SMS providers post back: Twilio's inbound messages and status callbacks (checked
with X-Twilio-Signature), and inbound messages from an HTTP gateway (a shared token).

Also the short link an SMS alert carries (/s/<code>/), which leads to the alert page.

Nothing here logs a phone number or a message's text.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from twilio.request_validator import RequestValidator

from tocsin.alerts import outbox
from tocsin.alerts.models import Alert, Delivery, DeliveryStatus, Purpose
from tocsin.hooks import inbound
from tocsin.lib import live, untrusted
from tocsin.lib.links import alert_link_token, verify_link_token
from tocsin.members.models import ContactEndpoint
from tocsin.transports import sms

logger = logging.getLogger(__name__)

# Twilio sends status callbacks within minutes; deliveries are purged after days.
STATUS_MAX_AGE = 7 * 86400
RECEIVED = {"delivered", "read"}
FAILED = {"undelivered", "failed"}
# Delivery error codes (in a status callback) that mean the number can never get an SMS:
# unknown or landline destination, blocked, opted out. Others (30003: the phone is off)
# only send this alert to the member's next channel.
DEAD_NUMBER_CODES = {"21610", "30004", "30005", "30006"}


class Malformed(Exception):
    pass


def _params(request: HttpRequest) -> Any:
    try:
        return request.POST
    except (MultiPartParserError, SuspiciousOperation, RequestDataTooBig, BadRequest) as e:
        raise Malformed(type(e).__name__) from e


def _twilio_signed(request: HttpRequest, hook: str) -> bool:
    """Return whether the request carries Twilio's valid signature for its public URL."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.TWILIO_AUTH_TOKEN:
        logger.warning("sms %s webhook refused: Twilio is not configured", hook)
        return False
    if not signature:
        logger.warning("sms %s webhook refused: no X-Twilio-Signature", hook)
        return False
    # Behind a proxy the request's own host is not what Twilio signed: the public one is.
    url = settings.SITE_URL + request.get_full_path()
    if not RequestValidator(settings.TWILIO_AUTH_TOKEN).validate(url, _params(request), signature):
        logger.warning("sms %s webhook refused: wrong X-Twilio-Signature", hook)
        return False
    return True


def _twiml(reply: str | None) -> HttpResponse:
    body = f"<Response><Message>{escape(reply)}</Message></Response>" if reply else "<Response/>"
    return HttpResponse(
        '<?xml version="1.0" encoding="UTF-8"?>' + body, content_type="text/xml; charset=utf-8"
    )


def _bad_request(hook: str, reason: str) -> HttpResponse:
    logger.info("sms %s webhook: malformed request (%s)", hook, reason)
    return untrusted.refusal(400, f"Malformed request: {reason}.")


def _forbidden() -> HttpResponse:
    return untrusted.refusal(403, "Forbidden: the signature or token is missing or wrong.")


@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    """A message a person sent to the Twilio number: act on it, answer in TwiML."""
    try:
        if not _twilio_signed(request, "inbound"):
            return _forbidden()
        params = _params(request)
    except Malformed as e:
        return _bad_request("inbound", str(e))
    sender, message_id = params.get("From", ""), params.get("MessageSid", "")
    if not sender or not message_id or "Body" not in params:
        return _bad_request("inbound", "From, MessageSid or Body missing")
    reply = inbound.handle(inbound.Inbound("sms", sender, params["Body"], message_id))
    return _twiml(reply)


@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest, token: str) -> HttpResponse:
    """Twilio's word on one SMS we sent: delivered, or undelivered/failed."""
    try:
        if not _twilio_signed(request, "status"):
            return _forbidden()
        params = _params(request)
    except Malformed as e:
        return _bad_request("status", str(e))
    try:
        delivery_id = int(signing.loads(token, salt=sms.STATUS_SALT, max_age=STATUS_MAX_AGE))
    except (signing.BadSignature, TypeError, ValueError):
        logger.warning("sms status webhook refused: bad or expired delivery token")
        return _forbidden()
    status = params.get("MessageStatus", "")
    if not status:
        return _bad_request("status", "MessageStatus missing")
    if status in RECEIVED:
        _received(delivery_id)
    elif status in FAILED:
        _failed(delivery_id, status, params.get("ErrorCode", "")[:10])
    return HttpResponse(status=200)


def _received(delivery_id: int) -> None:
    if Delivery.objects.filter(pk=delivery_id, receipt_at__isnull=True).update(
        receipt_at=timezone.now()
    ):
        _publish(delivery_id)


def _failed(delivery_id: int, status: str, code: str) -> None:
    """Record the failure and send the alert to the member's next channel, once."""
    with transaction.atomic():
        d = Delivery.objects.select_related("alert").filter(pk=delivery_id).first()
        if d is None:
            return  # purged, or the member deleted their account
        error = f"SMS {status}" + (f" (error {code})" if code else "")
        logger.info("delivery %s: %s", delivery_id, error)
        # A row not yet recorded as sent stays dead: the worker only records rows it
        # still holds as sending.
        Delivery.objects.filter(
            pk=d.pk, status__in=[DeliveryStatus.SENT, DeliveryStatus.SENDING]
        ).update(status=DeliveryStatus.DEAD, error=error, lease_until=None)
        if code in DEAD_NUMBER_CODES:
            ContactEndpoint.objects.filter(pk=d.endpoint_id).update(
                disabled_at=timezone.now(), last_error=error
            )
        # Twilio may say "undelivered" then "failed": fall back only the first time.
        if Delivery.objects.filter(pk=d.pk, fell_back=False).update(fell_back=True):
            outbox.fall_back(d)
    _publish(delivery_id)


def _publish(delivery_id: int) -> None:
    incident_id = (
        Delivery.objects.filter(pk=delivery_id).values_list("alert__incident_id", flat=True).first()
    )
    if incident_id:
        live.publish(f"incident:{incident_id}")


@csrf_exempt
@require_POST
def gateway_inbound(request: HttpRequest) -> HttpResponse:
    """A message a person sent to the group's gateway phone: JSON in, JSON reply out."""
    expected = settings.SMS_GATEWAY_TOKEN
    given = request.headers.get("X-Tocsin-Gateway-Token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        logger.warning("sms gateway webhook refused: wrong or missing token")
        return _forbidden()
    try:
        data = untrusted.load_json(request.body)
    except untrusted.NotJSON as e:
        return _bad_request("gateway", f"not JSON ({e})")
    except RequestDataTooBig:
        return _bad_request("gateway", "too large")
    if not isinstance(data, dict):
        return _bad_request("gateway", "not a JSON object")
    sender, text, message_id = data.get("from"), data.get("text", ""), data.get("id", "")
    if not isinstance(sender, str) or not sender or not isinstance(text, str):
        return _bad_request("gateway", "from or text missing")
    if not isinstance(message_id, str | int) or isinstance(message_id, bool):
        return _bad_request("gateway", "id is not a string")
    reply = inbound.handle(inbound.Inbound("sms", sender, text, str(message_id)[:200]))
    return JsonResponse({"reply": reply})


@require_GET
def short_link(request: HttpRequest, code: str) -> HttpResponse:
    """Redirect an SMS's short link to the alert page, signed with the time of the
    member's latest alert about the incident (so it expires like that alert's link)."""
    try:
        verify, member_id, incident_id = sms.read_any_short_code(code)
    except signing.BadSignature:
        raise Http404 from None
    alerts = Alert.objects.filter(incident_id=incident_id, deliveries__member_id=member_id)
    if verify:
        alerts = alerts.filter(purpose=Purpose.VERIFY)
        hours = settings.VERIFY_LINK_HOURS
    else:
        alerts = alerts.exclude(purpose=Purpose.VERIFY)
        hours = settings.ALERT_LINK_HOURS
    alert = alerts.order_by("-sent_at").first()
    if alert is None or alert.sent_at < timezone.now() - timedelta(hours=hours):
        raise Http404
    if verify:
        token = verify_link_token(member_id=member_id, incident_id=incident_id, at=alert.sent_at)
        return HttpResponseRedirect(reverse("verify_answer", args=[token]))
    token = alert_link_token(member_id=member_id, incident_id=incident_id, at=alert.sent_at)
    return HttpResponseRedirect(reverse("alert_page", args=[token]))


urlpatterns: list[URLPattern] = [
    path("inbound/", twilio_inbound, name="sms_inbound"),
    path("status/<str:token>/", twilio_status, name="sms_status"),
    path("gateway/inbound/", gateway_inbound, name="sms_gateway_inbound"),
]
