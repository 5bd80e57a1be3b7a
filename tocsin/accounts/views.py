"""Member pages: joining, logging in, areas and channels."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from tocsin import geo
from tocsin.accounts import my_alerts as mine
from tocsin.committees import access
from tocsin.committees.models import Invite, JoinRequest, Membership, Role
from tocsin.committees.verification_views import my_duty
from tocsin.lib import untrusted
from tocsin.lib.ratelimit import source_of
from tocsin.lib.redirects import local_path
from tocsin.members import attempts, auth, channels, codes, security
from tocsin.members.forms import (
    AreaForm,
    ChannelCodeForm,
    CodeForm,
    EmailForm,
    JoinForm,
    LanguageForm,
    LoginForm,
    PhoneForm,
)
from tocsin.members.models import AlertArea, ContactEndpoint, EndpointKind, Member
from tocsin.transports import webpush
from tocsin.transports.vapid import application_server_key

VERIFY_SALT = "tocsin.verify-email"


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        login_id = auth.send_login_code(form.cleaned_data["email"])
        # The same answer whether or not the address is known: no enumeration.
        request.session["login_id"] = login_id or 0
        request.session["login_account"] = attempts.address_account(form.cleaned_data["email"])
        return redirect("login_code")
    return render(request, "members/login.html", {"form": form})


@require_http_methods(["GET", "POST"])
def login_code(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        account = str(request.session.get("login_account") or "none")
        if not attempts.take("login", account, source_of(request)):
            form.add_error("code", attempts.refusal())
            return render(request, "members/code.html", {"form": form}, status=400)
        member = auth.check_code(
            int(request.session.get("login_id") or 0), form.cleaned_data["code"]
        )
        if member is not None:
            request.session.pop("login_account", None)
            security.start_session(request, member)
            if security.needs_second_factor(member):
                return redirect(f"{reverse('login_verify')}?next={reverse('me')}")
            return redirect("me")
        form.add_error(
            "code",
            _("That code is wrong or expired. Check the newest email, or ask for a new code."),
        )
    return render(
        request,
        "members/code.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("home")


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    invite = Invite.objects.select_related("committee").filter(token=token).first()
    if invite is None or not invite.usable():
        return render(request, "members/invite_invalid.html", status=404)
    if request.user.is_authenticated and hasattr(request.user, "member"):
        member = request.user.member
        if request.method == "POST":
            _membership, created = Membership.objects.get_or_create(
                committee=invite.committee,
                member=member,
                defaults={"role": invite.role, "vouched_by": invite.created_by},
            )
            if created:
                Invite.objects.filter(pk=invite.pk).update(uses=F("uses") + 1)
                _open_staff_enrollment(invite, member)
            messages.success(request, _("You joined %(name)s.") % {"name": invite.committee.name})
            return redirect("me")
        return render(request, "members/join_existing.html", {"invite": invite})
    initial = {"language": request.LANGUAGE_CODE}
    asked = JoinRequest.objects.filter(invite=invite).first()
    if asked is not None:
        # The link answers a request to join: the name and language given there are theirs.
        initial = {"display_name": asked.display_name, "language": asked.language}
    form = JoinForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            member = Member.create(display_name=data["display_name"], language=data["language"])
            Membership.objects.create(
                committee=invite.committee,
                member=member,
                role=invite.role,
                vouched_by=invite.created_by,
            )
            Invite.objects.filter(pk=invite.pk).update(uses=F("uses") + 1)
            _open_staff_enrollment(invite, member)
        security.start_session(request, member)
        if data["email"]:
            _add_email(request, member, data["email"])
        messages.success(request, _("Welcome. Now pick the areas you want alerts for."))
        return redirect("me")
    return render(request, "members/join.html", {"form": form, "invite": invite})


def _open_staff_enrollment(invite: Invite, member: Member) -> None:
    """A staff role by invite (the first organizer of a committee someone asked to start,
    invited by the operator) lets them add their first passkey or authenticator app."""
    if invite.role in (Role.DISPATCHER, Role.ORGANIZER):
        security.open_enrollment(member, granted_by=invite.created_by)


def _add_email(request: HttpRequest, member: Member, email: str) -> None:
    outcome, endpoint = channels.add_email(member, email)
    if outcome is channels.AddChannel.EXISTS:
        messages.info(request, _("You already get alerts at that address."))
        return
    if outcome is channels.AddChannel.TOO_MANY:
        messages.error(request, _("You can have up to 10 channels. Remove one first."))
        return
    if outcome is channels.AddChannel.RATE_LIMITED:
        messages.error(request, _("Too many confirmation messages sent. Try again in an hour."))
        return
    assert endpoint is not None
    token = signing.dumps(endpoint.pk, salt=VERIFY_SALT)
    link = settings.SITE_URL + reverse("verify_email", args=[token])
    auth.send_verification(member, endpoint, email, link)
    messages.info(
        request, _("We sent a confirmation link to that address. Open it to get alerts there.")
    )


@login_required
def me(request: HttpRequest) -> HttpResponse:
    return _me_page(request, access.member_of(request))


def _me_page(
    request: HttpRequest, member: Member, *, area_form: AreaForm | None = None, status: int = 200
) -> HttpResponse:
    kinds = channels.code_kinds()
    return render(
        request,
        "members/me.html",
        {
            "member": member,
            "areas": member.areas.all(),
            "channels": channels.rows(member),
            "memberships": member.memberships.select_related("committee"),
            "area_form": area_form or AreaForm(),
            "email_form": EmailForm(),
            "phone_form": PhoneForm(kinds=kinds) if kinds else None,
            "telegram_link": channels.telegram_link(member),
            "vapid_key": application_server_key(),
            "is_dispatcher": access.is_dispatcher(member),
            "duty": my_duty(member),
            "my_alerts": mine.alerts_of(member),
            "map_center": settings.MAP_CENTER,
        },
        status=status,
    )


@login_required
@require_POST
def add_area(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    form = AreaForm(request.POST)
    if form.is_valid() and member.areas.count() >= 10:
        form.add_error(None, _("You can have up to 10 areas."))
    if not form.is_valid():
        # The page again with what they typed, and what is missing beside the button.
        return _me_page(request, member, area_form=form, status=400)
    data = form.cleaned_data
    AlertArea.objects.create(
        member=member,
        label=data["label"],
        cell=geo.cell_at(data["lat"], data["lng"], settings.AREA_RESOLUTION),
        ring=data["ring"],
    )
    messages.success(request, _("Area added."))
    return redirect("me")


@login_required
@require_POST
def delete_area(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_of(request)
    get_object_or_404(AlertArea, pk=pk, member=member).delete()
    return redirect("me")


@login_required
@require_POST
def add_email(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    form = EmailForm(request.POST)
    if form.is_valid():
        _add_email(request, member, form.cleaned_data["email"])
    else:
        messages.error(request, _("That does not look like an email address."))
    return redirect("me")


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        pk = signing.loads(token, salt=VERIFY_SALT, max_age=3 * 86400)
    except signing.BadSignature:
        return render(request, "members/verify_failed.html", status=400)
    updated = ContactEndpoint.objects.filter(pk=pk, verified_at__isnull=True).update(
        verified_at=timezone.now()
    )
    exists = ContactEndpoint.objects.filter(pk=pk).exists()
    if not exists:
        return render(request, "members/verify_failed.html", status=400)
    return render(request, "members/verified.html", {"already": not updated})


@login_required
@require_POST
def push_subscribe(request: HttpRequest) -> JsonResponse:
    """Store this device's push subscription (sent by the page's script)."""
    member = access.member_of(request)
    try:
        body = untrusted.load_json(request.body)
        endpoint = str(body["endpoint"])
        keys = {"p256dh": str(body["keys"]["p256dh"]), "auth": str(body["keys"]["auth"])}
    except (ValueError, KeyError, TypeError):
        return JsonResponse({"error": _("That is not a push subscription.")}, status=400)
    if len(endpoint) > 1000:
        return JsonResponse({"error": _("That is not a push subscription.")}, status=400)
    try:
        webpush.check_endpoint(endpoint)
    except webpush.NotAllowed:
        return JsonResponse(
            {
                "error": _(
                    "This server does not send alerts to this browser's push service. "
                    "Try another browser or another channel."
                )
            },
            status=400,
        )
    except ValueError:
        return JsonResponse({"error": _("That is not a push subscription.")}, status=400)
    label = str(body.get("label") or _("This device"))[:40]
    ep = ContactEndpoint.create(
        member, EndpointKind.WEBPUSH, endpoint, data={"keys": keys}, verified=True
    )
    ContactEndpoint.objects.filter(pk=ep.pk).update(label=label)
    return JsonResponse({"ok": True, "id": ep.pk})


@login_required
@require_POST
def delete_endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    member = access.member_of(request)
    get_object_or_404(ContactEndpoint, pk=pk, member=member).delete()
    messages.success(request, _("Channel removed."))
    return redirect("me")


def _my_endpoint(request: HttpRequest, pk: int) -> ContactEndpoint:
    """Return the member's own endpoint ``pk``; anyone else's is a 404 like a missing one."""
    return get_object_or_404(ContactEndpoint, pk=pk, member=access.member_of(request))


@login_required
@require_POST
def add_phone(request: HttpRequest) -> HttpResponse:
    member = access.member_of(request)
    form = PhoneForm(request.POST, kinds=channels.code_kinds())
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect("me")
    data = form.cleaned_data
    outcome, endpoint = channels.add_phone(
        member, data["kind"], data["number"], label=data["label"]
    )
    if outcome is channels.AddPhone.TOO_MANY:
        messages.error(request, _("You can have up to 10 channels. Remove one first."))
        return redirect("me")
    if outcome is channels.AddPhone.RATE_LIMITED:
        messages.error(request, _("Too many codes sent. Try again in an hour."))
        return redirect("me")
    assert endpoint is not None
    if outcome is channels.AddPhone.EXISTS and endpoint.verified_at is not None:
        messages.info(request, _("You already get alerts at that number."))
        return redirect("me")
    if outcome is channels.AddPhone.ADDED:
        messages.info(request, _("We are sending a code to that number. Type it here."))
    return redirect("verify_channel", pk=endpoint.pk)


@login_required
@require_http_methods(["GET", "POST"])
def verify_channel(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _my_endpoint(request, pk)
    if endpoint.verified_at is not None or endpoint.kind not in channels.CODE_KINDS:
        return redirect("me")
    form = ChannelCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        account = attempts.member_account(endpoint.member_id)
        if not attempts.take("channel", account, source_of(request)):
            result = None
            form.add_error("code", attempts.refusal())
        else:
            result = channels.check_code(endpoint, form.cleaned_data["code"])
        if result is channels.CodeCheck.OK:
            messages.success(
                request,
                _("Confirmed. You will get alerts on %(channel)s.")
                % {"channel": endpoint.get_kind_display()},
            )
            return redirect("me")
        if result is channels.CodeCheck.WRONG:
            form.add_error("code", _("That code is wrong. Check the newest message."))
        elif result is channels.CodeCheck.EXPIRED:
            form.add_error(
                "code", _("That code has expired or was tried too often. Ask for a new one.")
            )
    return render(
        request,
        "members/verify_channel.html",
        {
            "endpoint": endpoint,
            "form": form,
            "minutes": codes.CODE_MINUTES,
            "problem": channels.error_in_plain_words(endpoint.last_error),
        },
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def resend_code(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _my_endpoint(request, pk)
    if endpoint.verified_at is not None or endpoint.kind not in channels.CODE_KINDS:
        return redirect("me")
    if channels.resend_code(endpoint):
        messages.info(request, _("A new code is on its way."))
    else:
        messages.error(request, _("Too many codes sent. Try again in an hour."))
    return redirect("verify_channel", pk=endpoint.pk)


@login_required
@require_POST
def move_endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _my_endpoint(request, pk)
    channels.move(endpoint, up=request.POST.get("direction") != "down")
    return redirect("me")


@login_required
@require_POST
def test_endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _my_endpoint(request, pk)
    if endpoint.verified_at is None or endpoint.disabled_at is not None:
        messages.error(request, _("Only a confirmed, working channel can get a test message."))
    elif not channels.may_test(endpoint.member):
        messages.error(request, _("You sent several tests already. Try again in 10 minutes."))
    else:
        channels.queue_test(endpoint)
        messages.success(
            request,
            _("A test message is on its way to %(channel)s.")
            % {"channel": endpoint.get_kind_display()},
        )
    return redirect("me")


@login_required
@require_POST
def enable_endpoint(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = _my_endpoint(request, pk)
    if channels.enable(endpoint):
        messages.success(
            request,
            _("Alerts are on again for %(channel)s.") % {"channel": endpoint.get_kind_display()},
        )
    else:
        messages.error(
            request, _("This channel cannot be turned on from here. Remove it and add it again.")
        )
    return redirect("me")


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    form = LanguageForm(request.POST)
    response = HttpResponseRedirect(local_path(request.POST.get("next"), default="/"))
    if form.is_valid():
        lang = form.cleaned_data["language"]
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            lang,
            samesite="Lax",
            max_age=365 * 86400,
            secure=settings.SECURE,
        )
        if request.user.is_authenticated and hasattr(request.user, "member"):
            Member.objects.filter(pk=request.user.member.pk).update(language=lang)
    return response
