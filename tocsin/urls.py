from __future__ import annotations

from django.conf import settings
from django.urls import include, path

from tocsin.accounts import data_views as member_data
from tocsin.accounts import security_views as security
from tocsin.accounts import views as members
from tocsin.alerts import receipts
from tocsin.api.v1 import api as public_api
from tocsin.committees import join_views, partner_views
from tocsin.committees import verification_views as committee_verification
from tocsin.committees import views as committees
from tocsin.demo import views as demo
from tocsin.desk import deliveries as alerts
from tocsin.desk import tools as desk_views
from tocsin.desk import views as incidents
from tocsin.digest import views as digest
from tocsin.family import views as family
from tocsin.federation import inbox as federation_inbox
from tocsin.federation import views as federation
from tocsin.hooks import sms as sms_hooks
from tocsin.hooks import unsubscribe
from tocsin.incidents import answer_views
from tocsin.incidents import report_views as intake
from tocsin.intake import place_views as intake_places
from tocsin.legal import views as legal
from tocsin.mobilize import (
    committee_pages,
    coverage_views,
    dashboard_views,
    planned_views,
    public_views,
)
from tocsin.mobilize import ladder_views as ladder
from tocsin.mobilize import views as mobilize
from tocsin.ops import views as ops
from tocsin.places import views as places
from tocsin.public import cap_views
from tocsin.public import feeds as public_feeds
from tocsin.public import views as public

urlpatterns = [
    # Live streams first: each open stream keeps the list of patterns tried before it,
    # for as long as it stays open (thousands during a raid).
    path("report/<str:receipt>/live/", intake.report_live, name="report_live"),
    path("a/<str:token>/live/", mobilize.alert_live, name="alert_live"),
    path("m/<int:pk>/live/", public_views.mobilization_live, name="mobilization_live"),
    path("desk/live/", incidents.desk_live, name="desk_live"),
    path("desk/incidents/<int:pk>/live/", incidents.incident_live, name="incident_live"),
    path("map/live/", public.public_map_live, name="public_map_live"),
    # The operator's tools: a load balancer's probes, Prometheus (tocsin.ops).
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    path("", public.home, name="home"),
    path("rights/", public.rights, name="rights"),
    path("rights/qr.svg", public.rights_qr, name="rights_qr"),
    # The public map and list of verified incidents (issue 17), and the same as GeoJSON.
    path("map/", public.public_map, name="public_map"),
    path("map/incidents.geojson", public.public_map_geojson, name="public_map_geojson"),
    path("offline/", public.offline, name="offline"),
    # AGPL section 13: the running version's source, offered in every page's footer.
    path("source/", public.source_code, name="source"),
    path("sw.js", public.service_worker, name="service_worker"),
    path("manifest.webmanifest", public.manifest, name="manifest"),
    # Street map tiles from the operator's map file: public map data.
    path("tiles/<int:z>/<int:x>/<int:y>.<str:ext>", public.tile, name="tile"),
    # CAP 1.2 (issue 17): public alerts, an Atom index of them, and federation with
    # partner networks (signed CAP in, our public key out).
    path("feed/cap.xml", cap_views.cap_feed, name="public_cap_feed"),
    path("cap/<str:public_id>.xml", cap_views.public_cap, name="public_cap"),
    path("federation/key", federation.public_key, name="federation_key"),
    path("federation/inbox/", federation_inbox.inbox, name="federation_inbox"),
    path("language/", members.set_language, name="set_language"),
    # Planned mobilizations: public pages, sign-up without an account, calendars.
    path("m/", public_views.mobilizations, name="mobilizations"),
    path("m/calendar.ics", public_views.mobilizations_ics, name="mobilizations_ics"),
    path("m/events.json", public_views.mobilizations_osdi, name="mobilizations_osdi"),
    path("m/map.geojson", public_views.mobilizations_geojson, name="mobilizations_geojson"),
    path("m/<int:pk>/", public_views.mobilization, name="mobilization"),
    path("m/<int:pk>/qr.svg", public_views.mobilization_qr, name="mobilization_qr"),
    path("m/<int:pk>/calendar.ics", public_views.mobilization_ics, name="mobilization_ics"),
    path("m/<int:pk>/here/<str:code>/", public_views.checkin, name="mobilization_checkin"),
    path("m/r/<str:token>/", public_views.rsvp_page, name="rsvp_page"),
    path("c/<slug:slug>/calendar.ics", public_views.committee_ics, name="committee_ics"),
    # Public feeds of verified incidents (issue 17): Atom, and the read-only JSON API with
    # its OpenAPI document; both read only tocsin.public.incidents.published().
    path("feed/", public_feeds.incidents_feed, name="public_feed"),
    path("api/v1/", public_api.urls),
    path("digest/", digest.subscribe, name="public_digest"),
    path("digest/confirm/<str:token>/", digest.confirm, name="digest_confirm"),
    path("digest/stop/<str:token>/", digest.unsubscribe, name="digest_unsubscribe"),
    # Anyone: reporting.
    path("report/", intake.report, name="report"),
    path("report/coverage.geojson", intake.coverage, name="coverage"),
    path("report/challenge.json", intake.report_challenge, name="report_challenge"),
    path("report/places.json", intake_places.places, name="report_places"),
    path("report/hotlines/", intake.report_hotlines, name="report_hotlines"),
    path("report/check/", intake.report_check, name="report_check"),
    path("report/<str:receipt>/", intake.report_done, name="report_done"),
    # Members.
    path("login/", members.login_view, name="login"),
    path("login/code/", members.login_code, name="login_code"),
    path("logout/", members.logout_view, name="logout"),
    path("login/verify/", security.login_verify, name="login_verify"),
    path("login/passkey/begin/", security.passkey_login_begin, name="passkey_login_begin"),
    path("login/passkey/complete/", security.passkey_login_complete, name="passkey_login_complete"),
    path("me/security/", security.security_page, name="security"),
    path("me/security/totp/", security.totp_start, name="totp_start"),
    path("me/security/totp/confirm/", security.totp_confirm, name="totp_confirm"),
    path("me/security/factors/<int:pk>/delete/", security.remove_factor, name="remove_factor"),
    path(
        "me/security/passkey/begin/", security.passkey_register_begin, name="passkey_register_begin"
    ),
    path(
        "me/security/passkey/complete/",
        security.passkey_register_complete,
        name="passkey_register_complete",
    ),
    path("me/security/logout-all/", security.logout_everywhere, name="logout_everywhere"),
    path("join/<str:token>/", members.join, name="join"),
    path("me/", members.me, name="me"),
    path("me/areas/", members.add_area, name="add_area"),
    path("me/areas/<int:pk>/delete/", members.delete_area, name="delete_area"),
    path("me/email/", members.add_email, name="add_email"),
    path("me/push/", members.push_subscribe, name="push_subscribe"),
    path("me/channels/<int:pk>/delete/", members.delete_endpoint, name="delete_endpoint"),
    path("me/phone/", members.add_phone, name="add_phone"),
    path("me/channels/<int:pk>/verify/", members.verify_channel, name="verify_channel"),
    path("me/channels/<int:pk>/resend/", members.resend_code, name="resend_code"),
    path("me/channels/<int:pk>/move/", members.move_endpoint, name="move_endpoint"),
    path("me/channels/<int:pk>/test/", members.test_endpoint, name="test_endpoint"),
    path("me/channels/<int:pk>/enable/", members.enable_endpoint, name="enable_endpoint"),
    path("me/data/", member_data.my_data, name="my_data"),
    path("me/data/export.json", member_data.export_data, name="export_data"),
    path("me/data/delete/", member_data.delete_account, name="delete_account"),
    path("verify/<str:token>/", members.verify_email, name="verify_email"),
    # Family plans and the panic button (issue 18): the member's own pages, a contact
    # agreeing by the link in their message, and a dispatcher taking a PIN on the hotline.
    path("me/family/", family.plan, name="family_plan"),
    path("me/family/contacts/", family.add_contact, name="family_contact_add"),
    path(
        "me/family/contacts/<int:pk>/delete/",
        family.delete_contact,
        name="family_contact_delete",
    ),
    path("me/family/pin/", family.set_pin, name="family_pin"),
    path("me/family/check-in/", family.check_in, name="family_check_in"),
    path("me/family/panic/", family.panic_button, name="family_panic"),
    path("me/family/panic/cancel/", family.cancel, name="family_cancel"),
    path("me/family/card/", family.card, name="family_card"),
    path("family/confirm/<str:token>/", family.confirm, name="family_confirm"),
    path("desk/hotline/panic/", desk_views.hotline_panic, name="hotline_panic"),
    # Alert links (signed, expiring).
    path("a/<str:token>/", mobilize.alert_page, name="alert_page"),
    path("r/<str:token>/", receipts.delivery_receipt, name="delivery_receipt"),
    # A verifier's answer page (signed, expiring).
    path("v/<str:token>/", answer_views.verify_answer, name="verify_answer"),
    path("unsubscribe/<str:token>/", unsubscribe.email_unsubscribe, name="email_unsubscribe"),
    path("s/<str:code>/", sms_hooks.short_link, name="short_alert_link"),
    # Providers calling back: inbound messages and delivery status (signatures checked).
    path("hooks/", include("tocsin.hooks.urls")),
    # Dispatcher's desk.
    path("desk/", incidents.desk, name="desk"),
    path("desk/reports/<int:pk>/open/", incidents.open_report, name="open_report"),
    path("desk/reports/<int:pk>/dismiss/", incidents.dismiss_report, name="dismiss_report"),
    path("desk/bursts/<str:group>/release/", incidents.release_burst, name="burst_release"),
    path("desk/bursts/<str:group>/dismiss/", incidents.dismiss_burst, name="burst_dismiss"),
    path("desk/photos/<int:pk>/", intake.report_photo, name="report_photo"),
    path("desk/incidents/<int:pk>/", incidents.incident, name="incident"),
    path("desk/incidents/<int:pk>/state/", incidents.change_state, name="incident_state"),
    path("desk/incidents/<int:pk>/merge/", incidents.merge_incident, name="incident_merge"),
    path("desk/incidents/<int:pk>/split/", incidents.split_incident, name="incident_split"),
    path("desk/incidents/<int:pk>/verify/", desk_views.send_verifier, name="incident_verify"),
    path("desk/incidents/<int:pk>/take/", desk_views.take_over, name="incident_take"),
    path("desk/incidents/<int:pk>/release/", desk_views.release, name="incident_release"),
    path("desk/incidents/<int:pk>/alert/", desk_views.alert_more, name="incident_alert_more"),
    path("desk/incidents/<int:pk>/follow-up/", desk_views.follow_up, name="incident_follow_up"),
    path("desk/approvals/<int:pk>/", desk_views.decide_approval, name="approval_decide"),
    # The escalation ladder, the dispatch quorum and the live headcount of an incident.
    path("desk/incidents/<int:pk>/escalation/", ladder.escalation, name="incident_escalation"),
    path(
        "desk/incidents/<int:pk>/escalation/<str:step>/",
        ladder.escalate,
        name="incident_escalate",
    ),
    path("desk/incidents/<int:pk>/quorum/", ladder.set_quorum, name="incident_quorum"),
    path(
        "desk/incidents/<int:pk>/quorum/<str:role>/reopen/",
        ladder.reopen_call,
        name="incident_reopen_call",
    ),
    path("desk/reply/", desk_views.reply_to_reporter, name="report_reply"),
    path("desk/hotline/", desk_views.hotline, name="hotline"),
    path("desk/geocode/", desk_views.geocode_search, name="geocode"),
    path("desk/deliveries/", alerts.dead_deliveries, name="dead_deliveries"),
    path("desk/deliveries/retry/", alerts.retry_dead_deliveries, name="retry_dead_deliveries"),
    path("desk/deliveries/<int:pk>/retry/", alerts.retry_delivery, name="retry_delivery"),
    # Committees in the open: find one by ZIP, its public page (ask to join), start one.
    path("committees/", committee_pages.find, name="committees_find"),
    path("committees/start/", committee_pages.start, name="committee_start"),
    path("committees/areas.geojson", committee_pages.areas, name="committees_areas"),
    # Organizers.
    path("committees/new/", committees.create, name="committee_create"),
    path("committees/<slug:slug>/", committee_pages.page, name="committee_public"),
    path("c/<slug:slug>/", committees.manage, name="committee"),
    path("c/<slug:slug>/area/", committees.set_area, name="committee_area"),
    path("c/<slug:slug>/area.geojson", committees.area_geojson, name="committee_area_geojson"),
    # The committee's gazetteer: named public places.
    path("c/<slug:slug>/places/", places.places, name="committee_places"),
    path("c/<slug:slug>/places/import/", places.import_places, name="committee_places_import"),
    path("c/<slug:slug>/places/<int:pk>/", places.edit_place, name="committee_place"),
    path(
        "c/<slug:slug>/places/<int:pk>/delete/", places.delete_place, name="committee_place_delete"
    ),
    path("c/<slug:slug>/members/<int:pk>/role/", committees.set_role, name="committee_role"),
    path("c/<slug:slug>/invite/", committees.new_invite, name="committee_invite"),
    path("c/<slug:slug>/invite.svg", committees.invite_qr, name="committee_invite_qr"),
    path("c/<slug:slug>/vouching/", committees.vouching_tree, name="committee_vouching"),
    path(
        "c/<slug:slug>/vouching/<int:pk>/cut/", committees.cut_branch, name="committee_cut_branch"
    ),
    path("c/<slug:slug>/rules/", committee_verification.set_rules, name="committee_rules"),
    path("c/<slug:slug>/shifts/", committee_verification.add_shift, name="committee_shift"),
    path(
        "c/<slug:slug>/shifts/<int:pk>/end/",
        committee_verification.end_shift,
        name="committee_end_shift",
    ),
    # On-call shifts: coverage for staff; sign-up and swaps for whoever may hold them.
    path("c/<slug:slug>/coverage/", coverage_views.coverage, name="committee_coverage"),
    path("c/<slug:slug>/on-call/", coverage_views.oncall_page, name="committee_oncall"),
    path(
        "c/<slug:slug>/shifts/<int:pk>/sign-up/",
        coverage_views.sign_up,
        name="committee_shift_sign_up",
    ),
    path(
        "c/<slug:slug>/shifts/<int:pk>/offer/", coverage_views.offer, name="committee_shift_offer"
    ),
    path("c/<slug:slug>/shifts/<int:pk>/take/", coverage_views.take, name="committee_shift_take"),
    # Planned mobilizations: dispatchers and organizers.
    path(
        "c/<slug:slug>/mobilizations/", planned_views.mobilizations, name="committee_mobilizations"
    ),
    path(
        "c/<slug:slug>/mobilizations/<int:pk>/",
        planned_views.mobilization,
        name="committee_mobilization",
    ),
    path(
        "c/<slug:slug>/mobilizations/<int:pk>/cancel/",
        planned_views.cancel_mobilization,
        name="committee_mobilization_cancel",
    ),
    path(
        "c/<slug:slug>/mobilizations/<int:pk>/people/",
        planned_views.people,
        name="committee_mobilization_people",
    ),
    # The organizing dashboard: organizers only, exact counts.
    path("c/<slug:slug>/dashboard/", dashboard_views.dashboard_page, name="committee_dashboard"),
    # Partner committees (both organizers consent) and the two-person rule.
    path("c/<slug:slug>/partners/", partner_views.propose, name="committee_partner_propose"),
    path(
        "c/<slug:slug>/partners/<int:pk>/accept/",
        partner_views.accept,
        name="committee_partner_accept",
    ),
    path("c/<slug:slug>/partners/<int:pk>/end/", partner_views.end, name="committee_partner_end"),
    path("c/<slug:slug>/threshold/", partner_views.set_threshold, name="committee_threshold"),
    path("c/<slug:slug>/hotlines/", committees.set_hotlines, name="committee_hotlines"),
    path("c/<slug:slug>/export/", partner_views.ask_export, name="committee_export_ask"),
    path("c/<slug:slug>/members.csv", partner_views.export, name="committee_export"),
    path("c/<slug:slug>/lock/", partner_views.ask_lock, name="committee_vault_lock"),
    # Verifiers: on duty now, or not.
    path("c/<slug:slug>/duty/", committee_verification.duty, name="committee_duty"),
    # Requests to join from the public page, and listing the committee there.
    path("c/<slug:slug>/requests/", join_views.requests, name="committee_join_requests"),
    path(
        "c/<slug:slug>/requests/<int:pk>/accept/",
        join_views.accept,
        name="committee_join_accept",
    ),
    path(
        "c/<slug:slug>/requests/<int:pk>/decline/",
        join_views.decline,
        name="committee_join_decline",
    ),
    path("c/<slug:slug>/listed/", join_views.set_listed, name="committee_listed"),
    # Responders and above: personal invites that vouch for one person.
    path("c/<slug:slug>/vouch/", committees.vouch, name="committee_vouch"),
    # Legal cases (the legal role of the committee only), the lawyer's signed link, a case
    # opened from an incident by its dispatcher, interpreters (the desk and the legal
    # team), and the languages a member speaks (tocsin.legal, docs/legal.md).
    path("legal/<slug:slug>/", legal.case_list, name="legal_cases"),
    path("legal/<slug:slug>/new/", legal.case_new, name="legal_case_new"),
    path("legal/<slug:slug>/<int:pk>/", legal.case_page, name="legal_case"),
    path("legal/<slug:slug>/<int:pk>/edit/", legal.case_edit, name="legal_case_edit"),
    path("legal/<slug:slug>/<int:pk>/state/", legal.case_state, name="legal_case_state"),
    path("legal/<slug:slug>/<int:pk>/tasks/", legal.task_add, name="legal_task_add"),
    path(
        "legal/<slug:slug>/<int:pk>/tasks/<int:task>/done/",
        legal.task_done,
        name="legal_task_done",
    ),
    path(
        "legal/<slug:slug>/<int:pk>/tasks/<int:task>/mobilize/",
        legal.task_mobilize,
        name="legal_task_mobilize",
    ),
    path("legal/<slug:slug>/<int:pk>/export/ask/", legal.export_ask, name="legal_export_ask"),
    path(
        "legal/<slug:slug>/<int:pk>/export/approve/",
        legal.export_approve,
        name="legal_export_approve",
    ),
    path("legal/<slug:slug>/<int:pk>/export/", legal.export_download, name="legal_export"),
    path("legal/link/<str:token>/", legal.case_link, name="legal_case_link"),
    path("desk/incidents/<int:pk>/case/", legal.incident_case, name="incident_case"),
    path("legal/<slug:slug>/interpreters/", legal.interpreter_find, name="legal_interpreters"),
    path(
        "legal/<slug:slug>/interpreters/send/",
        legal.interpreter_send,
        name="legal_interpreter_send",
    ),
    path(
        "legal/<slug:slug>/interpreters/<int:call>/came/",
        legal.interpreter_came,
        name="legal_interpreter_came",
    ),
    path("me/languages/", legal.my_languages, name="my_languages"),
]

if settings.DEMO:
    urlpatterns += [
        path("demo/", demo.personas, name="demo"),
        path("demo/login/<int:pk>/", demo.login_as, name="demo_login"),
        path("demo/inbox/<int:pk>/", demo.inbox, name="demo_inbox"),
        path("demo/inbox/others/", demo.others, name="demo_others"),
    ]
