"""Who may open which page: one row per route, one column per persona.

Every logged-in route is in TABLE; test_every_named_route_is_in_the_table fails when a new
route is added without deciding who may open it. Ids of another committee's objects must
give the same 404 as ids that do not exist, so ids reveal nothing.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import AsyncClient, Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from PIL import Image

from tests.factories import EAST, WEST, World, committee, member, world
from tocsin import geo
from tocsin.alerts.models import Alert, Certainty, Delivery, DeliveryStatus, MsgType, Purpose
from tocsin.committees import approvals, joining, partners
from tocsin.committees import services as committee_services
from tocsin.committees.models import Committee, Duty, Invite, Membership, Role, Share, Shift
from tocsin.family import panic
from tocsin.incidents import services as incidents
from tocsin.incidents.models import Incident
from tocsin.incidents.reports import receive_report
from tocsin.intake.models import Channel, Report, ReportKind, ReportPhoto
from tocsin.intake.photos import scrub
from tocsin.legal import cases as legal_cases
from tocsin.legal import interpreters
from tocsin.members.models import AlertArea, ContactEndpoint, Member
from tocsin.mobilize import rsvps
from tocsin.mobilize.models import Mobilization
from tocsin.mobilize.planned import Visibility
from tocsin.places.models import Place

PERSONAS = (
    "anonymous",
    "outsider",
    "member",
    "responder",
    "dispatcher",
    "organizer",
    "west_dispatcher",
    "west_organizer",
    # North partners with East (reports, verifiers and alerts shared by consent).
    "partner_dispatcher",
    # A fresh committee drawn over East's area, not approved by the operator.
    "unapproved_organizer",
    # East's legal team (tocsin.legal): a responder who also reads the committee's cases.
    "legal",
)

# Objects always belong to East (or, for /me/ routes, to Mateo, East's member). 302 for a
# logged-in persona means the action ran and redirected; anonymous 302 goes to the login.
# fmt: off
TABLE: dict[str, tuple[int, ...]] = {
    #                          anon outs memb resp disp orgn wdis worg pdis uorg legl
    "desk":                   (302, 403, 403, 403, 200, 200, 200, 200, 200, 200, 403),
    "desk_live":              (302, 403, 403, 403, 200, 200, 200, 200, 200, 200, 403),
    "open_report":            (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "dismiss_report":         (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "burst_release":          (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "burst_dismiss":          (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "report_photo":           (302, 404, 404, 404, 200, 200, 404, 404, 200, 404, 404),
    "incident":               (302, 404, 404, 404, 200, 200, 404, 404, 200, 404, 404),
    "incident_live":          (302, 404, 404, 404, 200, 200, 404, 404, 200, 404, 404),
    "incident_state":         (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_merge":         (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_split":         (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_verify":        (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_take":          (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_release":       (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "report_reply":           (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "hotline":                (302, 404, 404, 404, 200, 200, 200, 200, 200, 200, 404),
    # The desk's named places (no geocoder in the tests).
    "geocode":                (302, 404, 404, 404, 200, 200, 200, 200, 200, 200, 404),
    "dead_deliveries":        (302, 403, 403, 403, 200, 200, 404, 404, 200, 404, 403),
    "retry_delivery":         (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 404),
    "retry_dead_deliveries":  (302, 403, 403, 403, 302, 302, 404, 404, 302, 404, 403),
    "incident_alert_more":    (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_follow_up":     (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_escalation":    (302, 404, 404, 404, 200, 200, 404, 404, 200, 404, 404),
    "incident_escalate":      (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_quorum":        (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    "incident_reopen_call":   (302, 404, 404, 404, 302, 302, 404, 404, 302, 404, 404),
    # A waiting role grant of East's, asked by Olga: Diego declines it, Olga withdraws it.
    "approval_decide":        (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 404),
    "committee_create":       (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "committee":              (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_area":         (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_area_geojson": (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_places":       (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_places_import": (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_place":        (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_place_delete": (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_role":         (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_invite":       (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_invite_qr":    (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_vouching":     (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_cut_branch":   (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_vouch":        (302, 404, 404, 200, 200, 200, 404, 404, 404, 404, 200),
    "committee_rules":        (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_shift":        (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_end_shift":    (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_duty":         (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 404),
    # On-call shifts: coverage for staff; sign-up and swaps for whoever may hold a shift.
    "committee_coverage":     (302, 404, 404, 404, 200, 200, 404, 404, 404, 404, 404),
    "committee_oncall":       (302, 404, 404, 200, 200, 200, 404, 404, 404, 404, 200),
    # An open responder slot.
    "committee_shift_sign_up": (302, 404, 404, 302, 302, 302, 404, 404, 404, 404, 302),
    # Diego's own shift: only he offers it.
    "committee_shift_offer":  (302, 404, 404, 404, 302, 404, 404, 404, 404, 404, 404),
    # A responder shift Diego offers: anyone else who may hold it takes it.
    "committee_shift_take":   (302, 404, 404, 302, 404, 302, 404, 404, 404, 404, 302),
    "committee_partner_propose": (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_partner_accept": (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_partner_end":  (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_threshold":    (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_hotlines":     (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_export_ask":   (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    # Olga asked for the member list and Diego approved it: only she downloads it.
    "committee_export":       (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_vault_lock":   (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    # Requests to join from the public page, and listing the committee: its organizers.
    "committee_join_requests": (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "committee_join_accept":  (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_join_decline": (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    "committee_listed":       (302, 404, 404, 404, 404, 302, 404, 404, 404, 404, 404),
    # Committees in the open: anyone, logged in or not (East is listed; West is not, and
    # its page gives the same 404 as a missing one: test below).
    "committees_find":        (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "committee_start":        (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "committees_areas":       (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "committee_public":       (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # The organizing dashboard: exact counts, organizers only (dispatchers too get 404).
    "committee_dashboard":    (302, 404, 404, 404, 404, 200, 404, 404, 404, 404, 404),
    "me":                     (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "add_area":               (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "delete_area":            (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "add_email":              (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "push_subscribe":         (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "delete_endpoint":        (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "add_phone":              (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "verify_channel":         (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "resend_code":            (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "move_endpoint":          (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "test_endpoint":          (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "enable_endpoint":        (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "my_data":                (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "export_data":            (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "delete_account":         (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "security":               (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "login_verify":           (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "totp_start":             (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "totp_confirm":           (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    # Family plans and the panic button (issue 18): each member's own; the contact is
    # Mateo's. On the hotline, only East's staff find Mateo by his phone and PIN (others:
    "family_plan":            (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "family_contact_add":     (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "family_contact_delete":  (302, 404, 302, 404, 404, 404, 404, 404, 404, 404, 404),
    "family_pin":             (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "family_check_in":        (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "family_panic":           (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "family_cancel":          (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    "family_card":            (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "hotline_panic":          (302, 404, 404, 404, 302, 302, 400, 400, 400, 400, 404),
    "remove_factor":          (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    "passkey_register_begin": (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "passkey_register_complete": (302, 400, 400, 400, 400, 400, 400, 400, 400, 400, 400),
    "logout_everywhere":      (302, 302, 302, 302, 302, 302, 302, 302, 302, 302, 302),
    # Planned mobilizations: dispatchers and organizers of the committee.
    "committee_mobilizations": (302, 404, 404, 404, 200, 200, 404, 404, 404, 404, 404),
    "committee_mobilization": (302, 404, 404, 404, 200, 200, 404, 404, 404, 404, 404),
    "committee_mobilization_cancel": (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 404),
    "committee_mobilization_people": (302, 404, 404, 404, 200, 200, 404, 404, 404, 404, 404),
    # A mobilization for East's members only: the same 404 as none to anyone else.
    "mobilization":           (404, 404, 200, 200, 200, 200, 404, 404, 404, 404, 200),
    "mobilization_qr":        (404, 404, 200, 200, 200, 200, 404, 404, 404, 404, 200),
    "mobilization_ics":       (404, 404, 200, 200, 200, 200, 404, 404, 404, 404, 200),
    "mobilization_live":      (404, 404, 200, 200, 200, 200, 404, 404, 404, 404, 200),
    # The public map and list of verified incidents, its GeoJSON and live list, and the
    # rights page's QR code: public data, the same for everyone (tests/test_public_map.py).
    "public_map":             (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "public_map_geojson":     (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "public_map_live":        (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "rights_qr":              (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # Public feeds (tests/test_public_feed.py, tests/test_api.py): the same for everyone,
    # staff included; East's incident is not public (not confirmed long enough ago), so
    # the API's page of it is the same 404 for its own dispatcher as for anyone.
    "public_feed":            (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "api_incidents":          (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "api_incident":           (404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    "api_mobilizations":      (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # The public list's map (tests/test_mobilizations.py): the same for everyone; East's
    # members-only mobilization is in it for nobody, East's own staff included
    # (test_the_mobilization_map_holds_no_members_only_mobilization_for_anyone).
    "mobilizations_geojson":  (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "api_committees":         (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "openapi-json":           (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # django-ninja's root (/api/v1/): only names the API's base path; no page, no docs.
    "api-root":               (404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    # The daily digest's sign-up page (tests/test_public_broadcast.py).
    "public_digest":          (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    # CAP 1.2 (tests/test_cap.py): public, the same for everyone. East's incident is not
    # public (not confirmed long enough ago): its alert is 404 to everyone, its own
    # committee's staff included; the feed lists only what published() returns.
    "public_cap_feed":        (200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
    "public_cap":             (404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    # Federation (tests/test_federation.py): a partner's signature is the only credential;
    # with no TOCSIN_FEDERATION_KEY (as here) there is no key and the inbox is closed.
    "federation_key":         (404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404),
    "federation_inbox":       (503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503),
    # Legal cases (tests/test_legal_cases.py): the legal role of the committee only;
    # organizers and dispatchers do not read cases.
    "legal_cases":            (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200),
    "legal_case_new":         (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    "legal_case":             (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200),
    "legal_case_edit":        (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    "legal_case_state":       (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    "legal_task_add":         (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    "legal_task_done":        (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    "legal_task_mobilize":    (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    "legal_export_ask":       (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    # Leo (East's legal team) asked; Lucia approves.
    "legal_export_approve":   (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    # Lucia asked and Leo approved: only she downloads it.
    "legal_export":           (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200),
    # The signed link in Lucia's message: hers alone.
    "legal_case_link":        (302, 404, 404, 404, 404, 404, 404, 404, 404, 404, 302),
    # A dispatcher of a committee that owns the incident opens a case (a partner's does not).
    "incident_case":          (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 404),
    # Interpreters: the desk and the legal team of the committee.
    "legal_interpreters":     (302, 404, 404, 404, 200, 200, 404, 404, 404, 404, 200),
    "legal_interpreter_send": (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 302),
    "legal_interpreter_came": (302, 404, 404, 404, 302, 302, 404, 404, 404, 404, 302),
    "my_languages":           (302, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200),
}
# fmt: on

PUBLIC = {
    "home",
    "rights",
    "offline",
    "source",  # AGPL section 13: the running version's source (tests/test_license.py)
    # A load balancer's probes: counts and states only, nothing about people
    # (tests/test_health.py).
    "healthz",
    "readyz",
    # Prometheus: from this machine or with the operator's token only, and nothing about
    # people in it (tests/test_metrics.py).
    "metrics",
    "service_worker",
    "manifest",
    # Street map tiles from the operator's map file: public map data, the same for everyone
    # (tests/test_maps.py).
    "tile",
    "set_language",
    "report",
    "coverage",
    "report_challenge",  # a proof-of-work challenge, the same for everyone
    "report_places",  # named public places; rate-limited (tests/test_place_search.py)
    "report_done",
    # The receipt code is the credential, its guesses limited per network
    # (tests/test_receipts.py).
    "report_live",
    "report_check",
    "report_hotlines",  # public numbers, the same for everyone
    "login",
    "login_code",
    "logout",
    "join",
    "verify_email",
    "alert_page",
    "alert_live",
    "delivery_receipt",  # a signed token is the credential (tests/test_delivery_receipts.py)
    "email_unsubscribe",  # a signed token is the credential (tests/test_email_unsubscribe.py)
    "short_alert_link",  # a signed code is the credential (tests/test_transport_sms.py)
    "sms_inbound",  # Twilio's X-Twilio-Signature is the credential (tests/test_transport_sms.py)
    "sms_status",  # Twilio's signature and a signed delivery token (tests/test_transport_sms.py)
    "sms_gateway_inbound",  # the gateway's shared token (tests/test_transport_sms.py)
    "passkey_login_begin",
    "passkey_login_complete",
    # Telegram's webhook: the secret token header is the credential
    # (tests/test_transport_telegram.py).
    "telegram_update",
    "verify_answer",  # a signed token is the credential (tests/test_verification_views.py)
    # Public mobilizations only, never who signed up (tests/test_mobilizations.py).
    "mobilizations",
    "mobilizations_ics",
    "mobilizations_osdi",
    "committee_ics",
    # A person's own sign-up: its signed link is the credential (tests/test_mobilizations.py).
    "rsvp_page",
    # The check-in code's secret, and this device's sign-up (tests/test_mobilizations.py).
    "mobilization_checkin",
    # The daily digest: a signed link is the credential (tests/test_public_broadcast.py).
    "digest_confirm",
    "digest_unsubscribe",
    # An emergency contact agreeing: the link's secret is the credential, and only a POST
    # agrees (tests/test_family_plan.py).
    "family_confirm",
}
DEMO_ONLY = {"demo", "demo_login", "demo_inbox", "demo_others"}

# Server-Sent Event streams never end: they are read with AsyncClient, first chunk only.
STREAMS = {"desk_live", "incident_live", "mobilization_live", "public_map_live"}

MISSING = 987654


@dataclass(frozen=True)
class Objects:
    """The ids a route is called with: East's own, West's, or ids that do not exist."""

    slug: str
    report: int
    incident: int
    membership: int
    area: int
    endpoint: int
    photo: int = MISSING
    delivery: int = MISSING
    verifier: int = MISSING
    shift: int = MISSING
    approval: int = MISSING
    # A partnership proposed to the committee, waiting for its organizer.
    proposal: int = MISSING
    # A named place of the committee's gazetteer.
    place: int = MISSING
    # A group of the desk's burst lane.
    burst: str = "0" * 16
    # A planned mobilization for the committee's members only.
    mobilization: int = MISSING
    # An open responder slot, and a responder shift its holder offers to swap.
    slot: int = MISSING
    offered: int = MISSING
    # A stranger's request to join the committee, waiting for its organizers.
    join_request: int = MISSING
    # A legal case, its court date task, an interpreter call, a member who interprets
    # Mam, and the signed link of the legal team member's message (tocsin.legal).
    case: int = MISSING
    task: int = MISSING
    call: int = MISSING
    interpreter: int = MISSING
    link: str = "missing"
    # An emergency contact of a member's family plan.
    family_contact: int = MISSING


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    data: dict[str, Any] | None = None
    json: bool = False


ROUTES: dict[str, Callable[[Objects], Call]] = {
    "desk": lambda o: Call("get", reverse("desk")),
    "desk_live": lambda o: Call("get", reverse("desk_live")),
    "open_report": lambda o: Call("post", reverse("open_report", args=[o.report])),
    "dismiss_report": lambda o: Call("post", reverse("dismiss_report", args=[o.report])),
    "burst_release": lambda o: Call("post", reverse("burst_release", args=[o.burst])),
    "burst_dismiss": lambda o: Call("post", reverse("burst_dismiss", args=[o.burst])),
    "report_photo": lambda o: Call("get", reverse("report_photo", args=[o.photo])),
    "incident": lambda o: Call("get", reverse("incident", args=[o.incident])),
    "incident_live": lambda o: Call("get", reverse("incident_live", args=[o.incident])),
    "incident_state": lambda o: Call(
        "post", reverse("incident_state", args=[o.incident]), {"state": "verifying"}
    ),
    "incident_merge": lambda o: Call(
        "post", reverse("incident_merge", args=[o.incident]), {"into": o.incident}
    ),
    "incident_split": lambda o: Call("post", reverse("incident_split", args=[o.incident])),
    "incident_verify": lambda o: Call(
        "post", reverse("incident_verify", args=[o.incident]), {"verifier": o.verifier}
    ),
    "incident_take": lambda o: Call("post", reverse("incident_take", args=[o.incident])),
    "incident_release": lambda o: Call("post", reverse("incident_release", args=[o.incident])),
    "report_reply": lambda o: Call(
        "post", reverse("report_reply"), {"report": o.report, "body": "We are checking."}
    ),
    "hotline": lambda o: Call("get", reverse("hotline")),
    "geocode": lambda o: Call("get", reverse("geocode"), {"q": "1st and Main"}),
    "dead_deliveries": lambda o: Call("get", reverse("dead_deliveries"), {"incident": o.incident}),
    "retry_delivery": lambda o: Call("post", reverse("retry_delivery", args=[o.delivery])),
    "retry_dead_deliveries": lambda o: Call(
        "post", reverse("retry_dead_deliveries"), {"incident": o.incident}
    ),
    "committee_create": lambda o: Call("get", reverse("committee_create")),
    "committee": lambda o: Call("get", reverse("committee", args=[o.slug])),
    "committee_area": lambda o: Call(
        "post",
        reverse("committee_area", args=[o.slug]),
        {"lat": EAST[0], "lng": EAST[1], "radius_km": 1},
    ),
    "committee_area_geojson": lambda o: Call(
        "get", reverse("committee_area_geojson", args=[o.slug])
    ),
    "committee_role": lambda o: Call(
        "post", reverse("committee_role", args=[o.slug, o.membership]), {"role": "responder"}
    ),
    "committee_places": lambda o: Call("get", reverse("committee_places", args=[o.slug])),
    "committee_places_import": lambda o: Call(
        "post",
        reverse("committee_places_import", args=[o.slug]),
        {"file": _places_file(o.slug)},
    ),
    "committee_place": lambda o: Call(
        "post",
        reverse("committee_place", args=[o.slug, o.place]),
        {"name": "Renamed", "kind": "park", "lat": EAST[0], "lng": EAST[1]},
    ),
    "committee_place_delete": lambda o: Call(
        "post", reverse("committee_place_delete", args=[o.slug, o.place])
    ),
    "committee_invite": lambda o: Call("post", reverse("committee_invite", args=[o.slug])),
    "committee_invite_qr": lambda o: Call("get", reverse("committee_invite_qr", args=[o.slug])),
    "committee_vouching": lambda o: Call("get", reverse("committee_vouching", args=[o.slug])),
    "committee_cut_branch": lambda o: Call(
        "post", reverse("committee_cut_branch", args=[o.slug, o.membership])
    ),
    "committee_vouch": lambda o: Call("get", reverse("committee_vouch", args=[o.slug])),
    "committee_rules": lambda o: Call(
        "post", reverse("committee_rules", args=[o.slug]), {"quorum": 3}
    ),
    "committee_shift": lambda o: Call(
        "post", reverse("committee_shift", args=[o.slug]), {"member": o.verifier, "hours": 4}
    ),
    "committee_end_shift": lambda o: Call(
        "post", reverse("committee_end_shift", args=[o.slug, o.shift])
    ),
    "committee_duty": lambda o: Call("post", reverse("committee_duty", args=[o.slug])),
    "committee_coverage": lambda o: Call("get", reverse("committee_coverage", args=[o.slug])),
    "committee_oncall": lambda o: Call("get", reverse("committee_oncall", args=[o.slug])),
    "committee_shift_sign_up": lambda o: Call(
        "post", reverse("committee_shift_sign_up", args=[o.slug, o.slot])
    ),
    "committee_shift_offer": lambda o: Call(
        "post", reverse("committee_shift_offer", args=[o.slug, o.shift])
    ),
    "committee_shift_take": lambda o: Call(
        "post", reverse("committee_shift_take", args=[o.slug, o.offered])
    ),
    "incident_alert_more": lambda o: Call(
        "post", reverse("incident_alert_more", args=[o.incident]), {"committees": "0"}
    ),
    "incident_follow_up": lambda o: Call("post", reverse("incident_follow_up", args=[o.incident])),
    "incident_escalation": lambda o: Call("get", reverse("incident_escalation", args=[o.incident])),
    "incident_escalate": lambda o: Call(
        "post", reverse("incident_escalate", args=[o.incident, "responders"])
    ),
    "incident_quorum": lambda o: Call(
        "post", reverse("incident_quorum", args=[o.incident]), {"needed_member": "3"}
    ),
    "incident_reopen_call": lambda o: Call(
        "post", reverse("incident_reopen_call", args=[o.incident, "member"])
    ),
    "approval_decide": lambda o: Call(
        "post", reverse("approval_decide", args=[o.approval]), {"decision": "decline"}
    ),
    "committee_partner_propose": lambda o: Call(
        "post", reverse("committee_partner_propose", args=[o.slug]), {"other": "nowhere"}
    ),
    "committee_partner_accept": lambda o: Call(
        "post", reverse("committee_partner_accept", args=[o.slug, o.proposal])
    ),
    "committee_partner_end": lambda o: Call(
        "post", reverse("committee_partner_end", args=[o.slug, o.proposal])
    ),
    "committee_threshold": lambda o: Call(
        "post", reverse("committee_threshold", args=[o.slug]), {"threshold": "100"}
    ),
    "committee_export_ask": lambda o: Call("post", reverse("committee_export_ask", args=[o.slug])),
    "committee_hotlines": lambda o: Call(
        "post", reverse("committee_hotlines", args=[o.slug]), {"number_1": "(213) 555-0142"}
    ),
    "committee_export": lambda o: Call("get", reverse("committee_export", args=[o.slug])),
    "committee_vault_lock": lambda o: Call("post", reverse("committee_vault_lock", args=[o.slug])),
    "committee_dashboard": lambda o: Call("get", reverse("committee_dashboard", args=[o.slug])),
    "me": lambda o: Call("get", reverse("me")),
    "add_area": lambda o: Call(
        "post", reverse("add_area"), {"label": "Work", "lat": EAST[0], "lng": EAST[1], "ring": 1}
    ),
    "delete_area": lambda o: Call("post", reverse("delete_area", args=[o.area])),
    "add_email": lambda o: Call("post", reverse("add_email"), {"email": "new@example.org"}),
    "push_subscribe": lambda o: Call(
        "post",
        reverse("push_subscribe"),
        # On the suite's push peer's address (tests/settings.py allows it): no lookup.
        {"endpoint": "http://127.0.0.1:9/push/1", "keys": {"p256dh": "p", "auth": "a"}},
        json=True,
    ),
    "delete_endpoint": lambda o: Call("post", reverse("delete_endpoint", args=[o.endpoint])),
    "add_phone": lambda o: Call(
        "post", reverse("add_phone"), {"kind": "sms", "number": "+12135550100"}
    ),
    "verify_channel": lambda o: Call("get", reverse("verify_channel", args=[o.endpoint])),
    "resend_code": lambda o: Call("post", reverse("resend_code", args=[o.endpoint])),
    "move_endpoint": lambda o: Call(
        "post", reverse("move_endpoint", args=[o.endpoint]), {"direction": "down"}
    ),
    "test_endpoint": lambda o: Call("post", reverse("test_endpoint", args=[o.endpoint])),
    "enable_endpoint": lambda o: Call("post", reverse("enable_endpoint", args=[o.endpoint])),
    "my_data": lambda o: Call("get", reverse("my_data")),
    "export_data": lambda o: Call("get", reverse("export_data")),
    # Each case has its own scene, so deleting the persona's account spoils nothing.
    "delete_account": lambda o: Call("post", reverse("delete_account"), {"confirm": "DELETE"}),
    "security": lambda o: Call("get", reverse("security")),
    "login_verify": lambda o: Call("get", reverse("login_verify")),
    "totp_start": lambda o: Call("post", reverse("totp_start")),
    "totp_confirm": lambda o: Call("post", reverse("totp_confirm"), {"code": "000000"}),
    "remove_factor": lambda o: Call("post", reverse("remove_factor", args=[MISSING])),
    "passkey_register_begin": lambda o: Call("post", reverse("passkey_register_begin")),
    "passkey_register_complete": lambda o: Call(
        "post", reverse("passkey_register_complete"), {"credential": {}}, json=True
    ),
    "logout_everywhere": lambda o: Call("post", reverse("logout_everywhere")),
    "committee_mobilizations": lambda o: Call(
        "get", reverse("committee_mobilizations", args=[o.slug])
    ),
    "committee_mobilization": lambda o: Call(
        "get", reverse("committee_mobilization", args=[o.slug, o.mobilization])
    ),
    "committee_mobilization_cancel": lambda o: Call(
        "post",
        reverse("committee_mobilization_cancel", args=[o.slug, o.mobilization]),
        {"sure": "1"},
    ),
    "committee_mobilization_people": lambda o: Call(
        "get", reverse("committee_mobilization_people", args=[o.slug, o.mobilization])
    ),
    "committee_join_requests": lambda o: Call(
        "get", reverse("committee_join_requests", args=[o.slug])
    ),
    "committee_join_accept": lambda o: Call(
        "post", reverse("committee_join_accept", args=[o.slug, o.join_request])
    ),
    "committee_join_decline": lambda o: Call(
        "post", reverse("committee_join_decline", args=[o.slug, o.join_request])
    ),
    "committee_listed": lambda o: Call(
        "post", reverse("committee_listed", args=[o.slug]), {"listed": "1"}
    ),
    "committees_find": lambda o: Call("get", reverse("committees_find") + "?zip=90033"),
    "committee_start": lambda o: Call("get", reverse("committee_start")),
    "committees_areas": lambda o: Call("get", reverse("committees_areas")),
    "committee_public": lambda o: Call("get", reverse("committee_public", args=[o.slug])),
    "mobilization": lambda o: Call("get", reverse("mobilization", args=[o.mobilization])),
    "mobilization_qr": lambda o: Call("get", reverse("mobilization_qr", args=[o.mobilization])),
    "mobilization_ics": lambda o: Call("get", reverse("mobilization_ics", args=[o.mobilization])),
    "mobilization_live": lambda o: Call("get", reverse("mobilization_live", args=[o.mobilization])),
    "public_map": lambda o: Call("get", reverse("public_map")),
    "public_map_geojson": lambda o: Call("get", reverse("public_map_geojson")),
    "public_map_live": lambda o: Call("get", reverse("public_map_live")),
    "rights_qr": lambda o: Call("get", reverse("rights_qr")),
    "public_feed": lambda o: Call("get", reverse("public_feed")),
    "api_incidents": lambda o: Call("get", reverse("api:api_incidents")),
    "api_incident": lambda o: Call("get", reverse("api:api_incident", args=[o.incident])),
    "api_mobilizations": lambda o: Call("get", reverse("api:api_mobilizations")),
    "mobilizations_geojson": lambda o: Call("get", reverse("mobilizations_geojson")),
    "api_committees": lambda o: Call("get", reverse("api:api_committees")),
    "openapi-json": lambda o: Call("get", reverse("api:openapi-json")),
    "api-root": lambda o: Call("get", reverse("api:api-root")),
    "public_digest": lambda o: Call("get", reverse("public_digest")),
    "public_cap_feed": lambda o: Call("get", reverse("public_cap_feed")),
    "public_cap": lambda o: Call("get", reverse("public_cap", args=[o.incident])),
    "federation_key": lambda o: Call("get", reverse("federation_key")),
    "federation_inbox": lambda o: Call("post", reverse("federation_inbox"), {"cap": "<alert/>"}),
    "legal_cases": lambda o: Call("get", reverse("legal_cases", args=[o.slug])),
    "legal_case_new": lambda o: Call(
        "post", reverse("legal_case_new", args=[o.slug]), {"who": "Ana"}
    ),
    "legal_case": lambda o: Call("get", reverse("legal_case", args=[o.slug, o.case])),
    "legal_case_edit": lambda o: Call(
        "post", reverse("legal_case_edit", args=[o.slug, o.case]), {"who": "Ana"}
    ),
    "legal_case_state": lambda o: Call(
        "post", reverse("legal_case_state", args=[o.slug, o.case]), {"state": "located"}
    ),
    "legal_task_add": lambda o: Call(
        "post", reverse("legal_task_add", args=[o.slug, o.case]), {"kind": "bond"}
    ),
    "legal_task_done": lambda o: Call(
        "post", reverse("legal_task_done", args=[o.slug, o.case, o.task])
    ),
    "legal_task_mobilize": lambda o: Call(
        "post",
        reverse("legal_task_mobilize", args=[o.slug, o.case, o.task]),
        {"where": "Courthouse steps"},
    ),
    "legal_export_ask": lambda o: Call("post", reverse("legal_export_ask", args=[o.slug, o.case])),
    "legal_export_approve": lambda o: Call(
        "post", reverse("legal_export_approve", args=[o.slug, o.case])
    ),
    "legal_export": lambda o: Call("get", reverse("legal_export", args=[o.slug, o.case])),
    "legal_case_link": lambda o: Call("get", reverse("legal_case_link", args=[o.link])),
    "incident_case": lambda o: Call(
        "post", reverse("incident_case", args=[o.incident]), {"who": "Ana"}
    ),
    "legal_interpreters": lambda o: Call(
        "get", reverse("legal_interpreters", args=[o.slug]), {"language": "mam"}
    ),
    "legal_interpreter_send": lambda o: Call(
        "post",
        reverse("legal_interpreter_send", args=[o.slug]),
        {"language": "mam", "interpreter": o.interpreter},
    ),
    "legal_interpreter_came": lambda o: Call(
        "post", reverse("legal_interpreter_came", args=[o.slug, o.call])
    ),
    "my_languages": lambda o: Call("get", reverse("my_languages")),
    "family_plan": lambda o: Call("get", reverse("family_plan")),
    "family_contact_add": lambda o: Call(
        "post",
        reverse("family_contact_add"),
        {"label": "Ana", "kind": "email", "address": "ana@example.org", "contact_language": "es"},
    ),
    "family_contact_delete": lambda o: Call(
        "post", reverse("family_contact_delete", args=[o.family_contact])
    ),
    "family_pin": lambda o: Call("post", reverse("family_pin"), {"pin": "1357", "again": "1357"}),
    "family_check_in": lambda o: Call("post", reverse("family_check_in"), {"at": "18:00"}),
    "family_panic": lambda o: Call("get", reverse("family_panic")),
    "family_cancel": lambda o: Call("post", reverse("family_cancel"), {"pin": "2468"}),
    "family_card": lambda o: Call("get", reverse("family_card")),
    "hotline_panic": lambda o: Call(
        "post", reverse("hotline_panic"), {"phone": MATEO_PHONE, "pin": "2468"}
    ),
}

# Who owns the East objects of a route, for the "foreign id = missing id" check.
OWNER = {
    "open_report": "dispatcher",
    "dismiss_report": "dispatcher",
    "burst_release": "dispatcher",
    "burst_dismiss": "dispatcher",
    "committee_hotlines": "organizer",
    "report_photo": "dispatcher",
    "incident": "dispatcher",
    "incident_live": "dispatcher",
    "incident_state": "dispatcher",
    "incident_merge": "dispatcher",
    "incident_split": "dispatcher",
    "incident_verify": "dispatcher",
    "incident_take": "dispatcher",
    "incident_release": "dispatcher",
    "report_reply": "dispatcher",
    "dead_deliveries": "dispatcher",
    "retry_delivery": "dispatcher",
    "retry_dead_deliveries": "dispatcher",
    "committee": "organizer",
    "committee_area": "organizer",
    "committee_area_geojson": "organizer",
    "committee_places": "organizer",
    "committee_places_import": "organizer",
    "committee_place": "organizer",
    "committee_place_delete": "organizer",
    "committee_role": "organizer",
    "committee_invite": "organizer",
    "committee_invite_qr": "organizer",
    "committee_vouching": "organizer",
    "committee_cut_branch": "organizer",
    "committee_vouch": "responder",
    "committee_rules": "organizer",
    "committee_shift": "organizer",
    "committee_end_shift": "organizer",
    "committee_duty": "dispatcher",
    "incident_alert_more": "dispatcher",
    "incident_follow_up": "dispatcher",
    "incident_escalation": "dispatcher",
    "incident_escalate": "dispatcher",
    "incident_quorum": "dispatcher",
    "incident_reopen_call": "dispatcher",
    "approval_decide": "dispatcher",
    "committee_partner_propose": "organizer",
    "committee_partner_accept": "organizer",
    "committee_partner_end": "organizer",
    "committee_threshold": "organizer",
    "committee_export_ask": "organizer",
    "committee_export": "organizer",
    "committee_vault_lock": "organizer",
    "committee_shift_sign_up": "responder",
    "committee_shift_offer": "dispatcher",
    "committee_shift_take": "organizer",
    "committee_dashboard": "organizer",
    "delete_area": "member",
    "delete_endpoint": "member",
    "verify_channel": "member",
    "resend_code": "member",
    "move_endpoint": "member",
    "test_endpoint": "member",
    "enable_endpoint": "member",
    "committee_join_requests": "organizer",
    "committee_join_accept": "organizer",
    "committee_join_decline": "organizer",
    "committee_listed": "organizer",
    "committee_mobilizations": "dispatcher",
    "committee_mobilization": "organizer",
    "committee_mobilization_cancel": "organizer",
    "committee_mobilization_people": "dispatcher",
    "mobilization": "member",
    "mobilization_qr": "member",
    "mobilization_ics": "member",
    "mobilization_live": "member",
    "legal_cases": "legal",
    "legal_case_new": "legal",
    "legal_case": "legal",
    "legal_case_edit": "legal",
    "legal_case_state": "legal",
    "legal_task_add": "legal",
    "legal_task_done": "legal",
    "legal_task_mobilize": "legal",
    "legal_export_ask": "legal",
    "legal_export_approve": "legal",
    "legal_export": "legal",
    "legal_case_link": "legal",
    "incident_case": "dispatcher",
    "legal_interpreters": "dispatcher",
    "legal_interpreter_send": "dispatcher",
    "legal_interpreter_came": "dispatcher",
    "family_contact_delete": "member",
}


@dataclass
class Scene:
    world: World
    east: Objects
    west: Objects
    missing: Objects
    # Personas of the committees made for this module: North (East's partner) and an
    # unapproved committee drawn over East.
    extra: dict[str, Member]

    def user(self, persona: str) -> Any:
        if persona == "anonymous":
            return None
        if persona in self.extra:
            return self.extra[persona].user
        return getattr(self.world, persona).user


def _report_at(point: tuple[float, float], kind: str = ReportKind.CHECKPOINT) -> Report:
    return receive_report(channel=Channel.WEB, kind=kind, lat=point[0], lng=point[1])


def _burst_at(point: tuple[float, float], group: str) -> str:
    """A group of two reports in the desk's burst lane."""
    for _n in range(2):
        receive_report(
            channel=Channel.WEB,
            kind=ReportKind.AGENTS_SEEN,
            lat=point[0],
            lng=point[1],
            suspicious=True,
            burst_group=group,
        )
    return group


def _loose_report_at(point: tuple[float, float]) -> Report:
    """A report on the desk, in no incident: of a kind clustering keeps apart from the
    scene's checkpoint incidents."""
    return _report_at(point, ReportKind.HOME_ARREST)


def _photo_at(point: tuple[float, float]) -> ReportPhoto:
    image = io.BytesIO()
    Image.new("RGB", (8, 8)).save(image, "PNG")
    photo = scrub(image.getvalue(), max_bytes=settings.UPLOAD_MAX_BYTES)
    report = receive_report(
        channel=Channel.WEB, kind=ReportKind.CHECKPOINT, lat=point[0], lng=point[1], photos=[photo]
    )
    return report.photos.get()


def _places_file(slug: str) -> SimpleUploadedFile:
    """A one-place CSV inside the committee's area (East's, or West's for its slug)."""
    lat, lng = WEST if slug == "west" else EAST
    return SimpleUploadedFile("places.csv", f"name,lat,lng\nCorner,{lat},{lng}\n".encode())


def _dead_delivery(incident: Incident, member: Member) -> Delivery:
    alert = Alert.objects.create(
        incident=incident,
        msg_type=MsgType.ALERT,
        purpose=Purpose.CONFIRMED,
        certainty=Certainty.OBSERVED,
        cell=incident.cell,
        ring=1,
        expires_at=timezone.now() + timedelta(hours=6),
    )
    return Delivery.objects.create(
        alert=alert,
        member=member,
        endpoint=member.endpoints.get(),
        status=DeliveryStatus.DEAD,
        error="mailbox busy",
    )


def _shift(committee: Committee, member: Member) -> Shift:
    now = timezone.now()
    return Shift.objects.create(
        committee=committee, member=member, starts_at=now, ends_at=now + timedelta(hours=4)
    )


def _slot(committee: Committee) -> Shift:
    """An open responder slot tomorrow."""
    start = timezone.now() + timedelta(days=1)
    return Shift.objects.create(
        committee=committee,
        duty=Duty.RESPONDER,
        starts_at=start,
        ends_at=start + timedelta(hours=4),
    )


def _offered(committee: Committee, holder: Member) -> Shift:
    """A responder shift tomorrow that ``holder`` offers to swap."""
    start = timezone.now() + timedelta(days=1)
    return Shift.objects.create(
        committee=committee,
        member=holder,
        duty=Duty.RESPONDER,
        starts_at=start,
        ends_at=start + timedelta(hours=4),
        offered_at=timezone.now(),
    )


NORTH = (34.0900, -118.2107)


def _partners(w: World) -> Member:
    """North, partnered with East (both organizers agreed), and its dispatcher."""
    north = committee("North", NORTH, radius_m=1500)
    north_organizer = member("Nora", north, Role.ORGANIZER)
    partners.accept(
        partners.propose(
            w.east, north, [Share.REPORTS, Share.VERIFIERS, Share.ALERTS], by=w.organizer
        ),
        by=member("Ned", north, Role.ORGANIZER),
    )
    del north_organizer
    return member("Nadia", north, Role.DISPATCHER)


def _unapproved(w: World) -> Member:
    """A committee a member made over East's area, which the operator has not approved."""
    rogue = committee("Rogue", EAST, radius_m=2500)
    Committee.objects.filter(pk=rogue.pk).update(approved_at=None)
    return member("Rex", rogue, Role.ORGANIZER)


def _proposal(to: Committee, by: Member) -> int:
    """A partnership proposed to ``to`` by a committee of its own."""
    other = committee(f"Friends of {to.name}", NORTH, radius_m=500)
    proposer = member(f"Fran {to.name}", other, Role.ORGANIZER)
    del by
    return partners.propose(other, to, [Share.REPORTS], by=proposer).pk


def _approved_export(c: Committee, organizer: Member, second: Member) -> int:
    approval = committee_services.ask_export(c, by=organizer)
    committee_services.approve_export(approval, by=second)
    return approval.pk


@pytest.fixture
def scene(db: None) -> Scene:
    return build_scene()


def build_scene() -> Scene:
    """Two committees with one of every object each; personas of each role."""
    w = world()
    extra = {
        "partner_dispatcher": _partners(w),
        "unapproved_organizer": _unapproved(w),
        "legal": member("Lucia", w.east, Role.LEGAL),
    }
    east_incident = incidents.open_incident(_report_at(EAST), actor=w.dispatcher)
    west_incident = incidents.open_incident(_report_at(WEST), actor=w.west_dispatcher)
    Invite.objects.create(committee=w.east, created_by=w.organizer)
    Invite.objects.create(committee=w.west, created_by=w.west_organizer)
    # Walt (West) gets an area too, so /me/ routes have a foreign object to try.
    west_area = AlertArea.objects.create(
        member=w.west_dispatcher, cell=geo.cell_at(*WEST, settings.AREA_RESOLUTION), ring=1
    )
    east = Objects(
        slug=w.east.slug,
        report=_loose_report_at(EAST).pk,
        incident=east_incident.pk,
        membership=Membership.objects.get(committee=w.east, member=w.member).pk,
        area=w.member.areas.get().pk,
        endpoint=w.member.endpoints.get().pk,
        photo=_photo_at(EAST).pk,
        delivery=_dead_delivery(east_incident, w.member).pk,
        verifier=w.dispatcher.pk,
        shift=_shift(w.east, w.dispatcher).pk,
        slot=_slot(w.east).pk,
        offered=_offered(w.east, w.dispatcher).pk,
        approval=_role_grant(w.east, w.organizer, w.member),
        proposal=_proposal(w.east, w.organizer),
        place=Place.objects.create(committee=w.east, name="Plaza", lat=EAST[0], lng=EAST[1]).pk,
        burst=_burst_at(EAST, "e" * 16),
        mobilization=_members_only(w.east),
        join_request=_join_request(w.east),
        **_legal(w.east, extra["legal"], w.member, w.dispatcher),
        family_contact=_family_contact(w.member, phone=MATEO_PHONE),
    )
    _approved_export(w.east, w.organizer, w.dispatcher)
    west = Objects(
        slug=w.west.slug,
        report=_loose_report_at(WEST).pk,
        incident=west_incident.pk,
        membership=Membership.objects.get(committee=w.west, member=w.west_dispatcher).pk,
        area=west_area.pk,
        endpoint=w.west_dispatcher.endpoints.get().pk,
        photo=_photo_at(WEST).pk,
        delivery=_dead_delivery(west_incident, w.west_dispatcher).pk,
        verifier=w.west_dispatcher.pk,
        shift=_shift(w.west, w.west_dispatcher).pk,
        slot=_slot(w.west).pk,
        offered=_offered(w.west, w.west_dispatcher).pk,
        approval=_role_grant(w.west, w.west_organizer, w.west_dispatcher),
        proposal=_proposal(w.west, w.west_organizer),
        place=Place.objects.create(committee=w.west, name="Plaza", lat=WEST[0], lng=WEST[1]).pk,
        burst=_burst_at(WEST, "a" * 16),
        mobilization=_members_only(w.west),
        join_request=_join_request(w.west),
        **_legal(w.west, member("Wes", w.west, Role.LEGAL), w.west_dispatcher, w.west_dispatcher),
        family_contact=_family_contact(w.west_dispatcher),
    )
    _approved_export(w.west, w.west_organizer, w.west_dispatcher)
    missing = Objects("nowhere", MISSING, MISSING, MISSING, MISSING, MISSING)
    return Scene(world=w, east=east, west=west, missing=missing, extra=extra)


def _legal(c: Committee, lawyer: Member, interpreter: Member, asker: Member) -> dict[str, Any]:
    """A case of ``c`` with a court date; an export ``lawyer`` asked for and a colleague
    approved, and one the colleague asks for; a member who interprets Mam, and a call
    sent to them; the signed link of ``lawyer``'s message."""
    case = legal_cases.open_case(c, source="call", details={"who": "Ana"}, by=lawyer)
    court = legal_cases.add_task(
        case, "court", by=lawyer, due_at=timezone.now() + timedelta(days=2)
    )
    colleague = member(f"Colleague of {lawyer.display_name}", c, Role.LEGAL)
    with transaction.atomic():
        approvals.approve(legal_cases.ask_export(case, by=lawyer), by=colleague)
    legal_cases.ask_export(case, by=colleague)
    interpreters.set_languages(interpreter, ["mam"], interprets=True)
    call = interpreters.send(c, "mam", interpreter, by=asker)
    return {
        "case": case.pk,
        "task": court.pk,
        "call": call.pk,
        "interpreter": interpreter.pk,
        "link": legal_cases.link_token(case, lawyer),
    }


MATEO_PHONE = "+12135550111"


def _family_contact(m: Member, *, phone: str | None = None) -> int:
    """Give ``m`` a family plan with the PIN 2468 and one contact; with ``phone``, a
    verified phone the hotline finds them by."""
    plan = panic.plan_for(m)
    plan.set_pin("2468")
    plan.save()
    if phone is not None:
        ContactEndpoint.create(m, "sms", phone, verified=True)
    return panic.add_contact(
        plan, label="Ana", kind="email", address=f"ana-{m.pk}@example.org", language="es"
    ).pk


def _join_request(c: Committee) -> int:
    """A stranger's request to join ``c``; East is listed publicly, West is not."""
    if c.slug == "east":
        Committee.objects.filter(pk=c.pk).update(listed=True)
    request = joining.ask(
        c, display_name="Ana", kind="email", address="ana@example.org", language="en"
    )
    assert request is not None
    return request.pk


def _members_only(c: Committee) -> int:
    """A mobilization of ``c`` for its members only, tomorrow, with one person signed up."""
    start = timezone.now() + timedelta(days=1)
    m = Mobilization.objects.create(
        committee=c,
        kind="meeting",
        title="Committee meeting",
        address="Community hall",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        visibility=Visibility.MEMBERS,
    )
    rsvps.sign_up(m, contact=rsvps.Contact("email", f"guest@{c.slug}.example.org"))
    return m.pk


def _role_grant(c: Committee, organizer: Member, whom: Member) -> int:
    membership = Membership.objects.get(committee=c, member=whom)
    approval = committee_services.set_role(membership, Role.ORGANIZER, by=organizer)
    assert approval is not None
    return approval.pk


@dataclass
class Result:
    status: int
    location: str
    # The whole body, or only the first event of a stream.
    body: bytes
    path: str


def _fetch(call: Call, user: Any) -> Result:
    client = Client()
    if user is not None:
        client.force_login(user)
    if call.json:
        response = client.post(call.path, call.data, content_type="application/json")
    else:
        response = getattr(client, call.method)(call.path, call.data or {})
    return Result(response.status_code, response.get("Location", ""), response.content, call.path)


def _fetch_stream(call: Call, user: Any) -> Result:
    async def run() -> Result:
        client = AsyncClient()
        if user is not None:
            await sync_to_async(client.force_login)(user)
        response = await client.get(call.path)
        body = b""
        if response.streaming:
            stream = response.streaming_content
            try:
                body = await anext(aiter(stream))
            finally:
                if hasattr(stream, "aclose"):
                    await stream.aclose()
        else:
            body = response.content
        return Result(response.status_code, response.get("Location", ""), body, call.path)

    return async_to_sync(run)()


def fetch(route: str, objects: Objects, user: Any) -> Result:
    call = ROUTES[route](objects)
    assert call.method == "get" or route not in STREAMS
    return _fetch_stream(call, user) if route in STREAMS else _fetch(call, user)


def _check(result: Result, persona: str, expected: int) -> None:
    assert result.status == expected, (persona, result.path, result.body[:300])
    if expected != 302:
        return
    login = reverse(settings.LOGIN_URL)
    if persona == "anonymous":
        assert result.location.startswith(f"{login}?next="), result.location
    else:
        # The action ran: a logged-in persona is never sent back to the login page.
        assert not result.location.startswith(login), result.location


CASES = [
    (route, persona, expected)
    for route, row in TABLE.items()
    for persona, expected in zip(PERSONAS, row, strict=True)
]
PAGE_CASES = [case for case in CASES if case[0] not in STREAMS]
STREAM_CASES = [case for case in CASES if case[0] in STREAMS]


# test_views_access_pages.py asks every page of PAGE_CASES, and
# test_views_access_streams.py every stream of STREAM_CASES, each on one scene for its module.


def _scrub(result: Result) -> bytes:
    """Return the body without what differs per request anyway: path, nonces, tokens."""
    body = result.body.replace(result.path.encode(), b"<path>")
    body = re.sub(rb'nonce="[^"]*"', b'nonce=""', body)
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)


def assert_same_404(scene: Scene, route: str) -> None:
    """Another committee's object answers exactly as a missing one: no way to probe ids."""
    user = scene.user(OWNER[route])
    assert fetch(route, scene.east, user).status in (200, 302)
    foreign = fetch(route, scene.west, user)
    missing = fetch(route, scene.missing, user)
    assert foreign.status == missing.status == 404
    assert _scrub(foreign) == _scrub(missing)


def test_an_unlisted_committees_public_page_gives_the_same_404_as_a_missing_one(
    scene: Scene,
) -> None:
    assert fetch("committee_public", scene.east, None).status == 200
    foreign = fetch("committee_public", scene.west, None)
    missing = fetch("committee_public", scene.missing, None)
    assert foreign.status == missing.status == 404
    assert _scrub(foreign) == _scrub(missing)


def test_a_membership_of_another_committee_gives_the_same_404_as_a_missing_one(
    scene: Scene,
) -> None:
    user = scene.user("organizer")
    foreign = fetch("committee_role", replace(scene.east, membership=scene.west.membership), user)
    missing = fetch("committee_role", replace(scene.east, membership=MISSING), user)
    assert foreign.status == missing.status == 404
    assert _scrub(foreign) == _scrub(missing)
    assert Membership.objects.get(pk=scene.west.membership).role == "dispatcher"


def test_the_mobilization_map_holds_no_members_only_mobilization_for_anyone(
    scene: Scene,
) -> None:
    assert Mobilization.objects.get(pk=scene.east.mobilization).visibility != "public"
    for persona in PERSONAS:
        result = fetch("mobilizations_geojson", scene.east, scene.user(persona))
        ids = [f["id"] for f in json.loads(result.body)["features"]]
        assert scene.east.mobilization not in ids, persona
        assert scene.west.mobilization not in ids, persona


def _route_names(patterns: list[Any]) -> set[str]:
    names: set[str] = set()
    for p in patterns:
        if isinstance(p, URLResolver):
            names |= _route_names(p.url_patterns)
        elif isinstance(p, URLPattern) and p.name:
            names.add(p.name)
    return names


def test_every_named_route_is_in_the_table() -> None:
    names = _route_names(get_resolver().url_patterns)
    allowed = PUBLIC | (DEMO_ONLY if settings.DEMO else set())
    assert names - allowed - set(TABLE) == set(), "routes with no access rule in TABLE"
    assert set(TABLE) - names == set(), "TABLE lists routes that no longer exist"
    assert set(TABLE) == set(ROUTES)
    assert not set(TABLE) & PUBLIC


def test_the_demo_routes_exist_only_in_demo_mode() -> None:
    names = _route_names(get_resolver().url_patterns)
    assert bool(names & DEMO_ONLY) == settings.DEMO
