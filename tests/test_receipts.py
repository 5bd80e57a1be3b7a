"""The receipt page: what became of a report, in words a reporter understands, live; and
the box that finds a report by its receipt code, with a limit on guesses."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.core.cache import cache
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import translation

from tests.factories import EAST, World, world
from tests.privacy_support import ip_addresses
from tocsin.incidents import replies
from tocsin.incidents import services as incidents
from tocsin.incidents.reports import receive_report
from tocsin.intake import receipts
from tocsin.intake.models import (
    RECEIPT_ALPHABET,
    RECEIPT_LENGTH,
    Channel,
    Report,
    ReportKind,
    new_receipt,
)

ADDRESS = "198.51.100.23"
SAME_NETWORK = "198.51.100.99"
OTHER_NETWORK = "198.51.101.23"
TEXT = "Three vans at the car wash on Cesar Chavez."


def report_at(place: tuple[float, float] = EAST, text: str = TEXT, **fields: Any) -> Report:
    return receive_report(
        channel=Channel.WEB,
        kind=ReportKind.CHECKPOINT,
        lat=place[0],
        lng=place[1],
        text=text,
        **fields,
    )


def receipt_page(report: Report, address: str = ADDRESS, **extra: Any) -> Any:
    return Client(REMOTE_ADDR=address).get(reverse("report_done", args=[report.receipt]), **extra)


def progress_of(report: Report) -> str:
    page = receipt_page(report).content.decode()
    start = page.index('data-progress="') + len('data-progress="')
    return page[start : page.index('"', start)]


def check(code: str, address: str = ADDRESS, **data: Any) -> Any:
    return Client(REMOTE_ADDR=address).post(reverse("report_check"), {"code": code, **data})


# What became of the report.


def test_the_receipt_page_says_where_in_words_at_the_block(w: World) -> None:
    from tocsin.places.models import Place, PlaceKind

    Place.objects.create(
        committee=w.east,
        name="Car wash, Cesar Chavez & Soto",
        name_es="Autolavado, Cesar Chavez y Soto",
        kind=PlaceKind.CAR_WASH,
        lat=EAST[0] + 0.0003,
        lng=EAST[1],
    )
    report = report_at()
    page = receipt_page(report).content.decode()
    where = page.split('data-testid="where">')[1].split("<")[0]
    assert "Car wash, Cesar Chavez &amp; Soto" in where, where
    spanish = receipt_page(report, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Autolavado, Cesar Chavez y Soto" in spanish
    # Never the point itself: whoever has the code can open the page.
    assert f"{EAST[0]:.5f}" not in page


def test_the_receipt_page_follows_the_incident_from_received_to_resolved(w: World) -> None:
    report = report_at()
    assert progress_of(report) == "received"
    incident = incidents.open_incident(report, actor=w.dispatcher)
    assert progress_of(report) == "received"
    incidents.change_state(incident, "verifying", actor=w.dispatcher, committees={w.east.pk})
    assert progress_of(report) == "checking"
    incidents.change_state(incident, "confirmed", actor=w.dispatcher, committees={w.east.pk})
    assert progress_of(report) == "confirmed"
    page = receipt_page(report).content.decode()
    assert "Members nearby were alerted" in page
    assert 'aria-current="step"' in page
    incidents.change_state(incident, "resolved", actor=w.dispatcher, committees={w.east.pk})
    assert progress_of(report) == "resolved"


def test_a_report_confirmed_without_a_check_does_not_tick_being_checked(w: World) -> None:
    report = report_at()
    incident = incidents.open_incident(report, actor=w.dispatcher)
    incidents.change_state(incident, "confirmed", actor=w.dispatcher, committees={w.east.pk})
    page = receipt_page(report).content.decode()
    steps = page.split('<ol class="steps">')[1].split("</ol>")[0]
    assert "Being checked" not in steps
    assert '<li class="done">✓ Received</li>' in steps
    assert 'aria-current="step"><strong>Confirmed</strong>' in steps


def test_a_checked_report_keeps_its_check_on_the_path(w: World) -> None:
    report = report_at()
    incident = incidents.open_incident(report, actor=w.dispatcher)
    incidents.change_state(incident, "verifying", actor=w.dispatcher, committees={w.east.pk})
    page = receipt_page(report).content.decode()
    # Responders nearby were told it is being checked: the page does not say nobody was.
    assert "Nobody is alerted" not in page
    assert "Members nearby are alerted only if it is confirmed" in page
    incidents.change_state(incident, "confirmed", actor=w.dispatcher, committees={w.east.pk})
    steps = receipt_page(report).content.decode().split('<ol class="steps">')[1]
    assert '<li class="done">✓ Being checked</li>' in steps


def test_a_false_alarm_does_not_claim_someone_checked(w: World) -> None:
    report = report_at()
    incident = incidents.open_incident(report, actor=w.dispatcher)
    incidents.change_state(incident, "unfounded", actor=w.dispatcher, committees={w.east.pk})
    page = receipt_page(report).content.decode()
    assert "Those who checked" not in page
    assert "marked it a false alarm" in page


def test_what_happens_next_is_said_only_while_it_is_still_ahead(w: World) -> None:
    report = report_at()
    page = receipt_page(report).content.decode()
    assert "decides whether to send someone to check" in page
    assert "sends someone to check" not in page  # no promise the desk has not made
    incident = incidents.open_incident(report, actor=w.dispatcher)
    incidents.change_state(incident, "confirmed", actor=w.dispatcher, committees={w.east.pk})
    page = receipt_page(report).content.decode()
    assert "What happens next" not in page
    assert "Only if it is confirmed" not in page
    assert "<h1>Your report</h1>" in page


def test_a_false_alarm_says_so(w: World) -> None:
    report = report_at()
    incident = incidents.open_incident(report, actor=w.dispatcher)
    incidents.change_state(incident, "unfounded", actor=w.dispatcher, committees={w.east.pk})
    page = receipt_page(report).content.decode()
    assert 'data-progress="false_alarm"' in page and "False alarm" in page


def test_a_dismissed_report_is_closed_and_points_to_the_hotline(w: World) -> None:
    report = report_at()
    incidents.dismiss_report(report, actor=w.dispatcher)
    page = receipt_page(Report.objects.get(pk=report.pk)).content.decode()
    assert 'data-progress="closed"' in page and "call the hotline" in page


def test_a_report_nobody_could_verify_in_time_says_so_without_blaming_anyone(w: World) -> None:
    report = report_at()
    incident = incidents.open_incident(report, actor=w.dispatcher)
    incidents.change_state(incident, "expired", actor=None)
    page = receipt_page(report).content.decode()
    assert 'data-progress="not_verified"' in page
    assert "could not be confirmed in time" in page and "call the hotline" in page
    assert "dispatchers closed" not in page
    spanish = receipt_page(report, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "No se pudo confirmar a tiempo" in spanish


def test_a_merged_report_follows_the_incident_it_joined(w: World) -> None:
    from tests.factories import own_incident

    first, second = report_at(), report_at(text="Agents at the corner too.")
    a = own_incident(first, w.dispatcher)
    second.refresh_from_db()  # clustering joined it to the first's incident
    b = own_incident(second, w.dispatcher)
    incidents.merge(a, b, actor=w.dispatcher)
    incidents.change_state(b, "verifying", actor=w.dispatcher, committees={w.east.pk})
    assert progress_of(Report.objects.get(pk=first.pk)) == "checking"


def test_the_receipt_page_tells_nothing_of_other_reports_or_the_desk(
    w: World, settings: Any
) -> None:
    settings.BURST_NEW_SOURCES = 0
    mine = report_at(suspicious=True, burst_group="b" * 16)
    other = report_at(text="Someone else's words about the same place.")
    incident = incidents.open_incident(other, actor=w.dispatcher)
    incidents.change_state(incident, "verifying", actor=w.dispatcher, committees={w.east.pk})
    page = receipt_page(mine).content.decode()
    assert 'data-progress="received"' in page
    for secret in (
        other.text,
        other.receipt,
        "b" * 16,
        "uspicious",
        "flood",
        w.dispatcher.display_name,
        other.place,
    ):
        assert secret not in page


def test_the_state_speaks_spanish(w: World) -> None:
    report = report_at()
    page = receipt_page(report, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    with translation.override("es"):
        from tocsin.incidents import progress

        title = str(progress.of(report).title)
        explanation = str(progress.of(report).explanation)
    with translation.override("en"):
        assert title != str(progress.of(report).title)
    assert title in page and explanation in page


@pytest.mark.django_db(transaction=True)
def test_the_dispatchers_answer_arrives_live() -> None:
    w = world()
    report = report_at()
    path = reverse("report_live", args=[report.receipt])

    async def run() -> tuple[str, str]:
        client = AsyncClient(REMOTE_ADDR=ADDRESS)
        response = await client.get(path)
        stream = response.streaming_content
        try:
            first = (await anext(aiter(stream))).decode()
            await sync_to_async(replies.reply)(
                report, "A verifier is on the way.", actor=w.dispatcher
            )
            second = (await anext(aiter(stream))).decode()
        finally:
            await stream.aclose()
        return first, second

    first, second = async_to_sync(run)()
    assert first.startswith("retry: ") and 'data-progress="received"' in first
    assert "No message yet" in first
    assert "A verifier is on the way." in second


# The box that finds a receipt.


def test_a_receipt_code_typed_in_the_box_opens_its_receipt_page(w: World) -> None:
    report = report_at()
    code = report.receipt
    typed = f" {code[:4].lower()} - {code[4:]} "
    response = check(typed)
    assert response.status_code == 302
    assert response["Location"] == reverse("report_done", args=[code])


def test_an_unknown_code_gets_a_message_on_the_report_page(w: World) -> None:
    response = check("ZZZZ2222")
    page = response.content.decode()
    assert response.status_code == 404
    assert "No report has that receipt code" in page
    assert 'id="report-form"' in page  # the report page, not a bare 404 page
    assert 'value="ZZZZ2222"' in page and 'aria-invalid="true"' in page


def test_a_code_that_cannot_be_one_is_refused_without_a_lookup(w: World) -> None:
    response = check("HELLO0")
    assert response.status_code == 400
    assert "8 letters and digits" in response.content.decode()
    assert receipts.normalize("O0I1O0I1") is None


def test_the_receipt_page_box_answers_on_the_receipt_page(w: World) -> None:
    mine, other = report_at(), report_at(text="Another report.")
    client = Client(REMOTE_ADDR=ADDRESS)
    path = reverse("report_done", args=[mine.receipt])
    missed = client.post(path, {"code": "ZZZZ2222"})
    assert missed.status_code == 404
    page = missed.content.decode()
    assert mine.receipt in page and "No report has that receipt code" in page
    found = client.post(path, {"code": other.receipt.lower()})
    assert found["Location"] == reverse("report_done", args=[other.receipt])


def test_an_unknown_code_in_the_address_gets_the_check_page(w: World) -> None:
    response = Client(REMOTE_ADDR=ADDRESS).get(reverse("report_done", args=["ZZZZ2222"]))
    assert response.status_code == 404
    page = response.content.decode()
    assert "No report has that receipt code" in page and 'name="code"' in page
    malformed = Client(REMOTE_ADDR=ADDRESS).get(reverse("report_done", args=["hello"]))
    assert malformed.status_code == 404
    assert "8 letters and digits" in malformed.content.decode()
    assert Client().get(reverse("report_check")).status_code == 200


def test_the_check_page_box_answers_on_the_check_page(w: World) -> None:
    response = check("ZZZZ2222", **{"from": "check"})
    page = response.content.decode()
    assert response.status_code == 404
    assert "No report has that receipt code" in page and 'id="report-form"' not in page


def test_the_message_for_an_unknown_code_speaks_spanish(w: World) -> None:
    response = Client(REMOTE_ADDR=ADDRESS).post(
        reverse("report_check"), {"code": "ZZZZ2222"}, HTTP_ACCEPT_LANGUAGE="es"
    )
    with translation.override("es"):
        spanish = receipts.problem(receipts.UNKNOWN)
    with translation.override("en"):
        assert spanish != receipts.problem(receipts.UNKNOWN)
    assert spanish in response.content.decode().replace("&#x27;", "'")


def test_guessing_codes_from_one_network_stops_even_for_a_right_code(
    w: World, settings: Any
) -> None:
    settings.RECEIPT_MISSES_PER_10MIN = 3
    report = report_at()
    for n in range(3):
        assert check(f"ZZZZ222{n + 2}").status_code == 404
    # Past the budget no code is checked: a right one gets the same answer.
    for code in ("ZZZZ2229", report.receipt):
        refused = check(code, SAME_NETWORK)
        assert refused.status_code == 429
        assert "Too many receipt codes were tried" in refused.content.decode()
    assert receipt_page(report).status_code == 429
    live = Client(REMOTE_ADDR=ADDRESS).get(reverse("report_live", args=[report.receipt]))
    assert live.status_code == 429
    # Another network is not held back.
    assert check(report.receipt, OTHER_NETWORK).status_code == 302


def test_a_reporter_reloading_their_receipt_never_runs_out(w: World, settings: Any) -> None:
    settings.RECEIPT_MISSES_PER_10MIN = 3
    report = report_at()
    for _ in range(10):
        assert receipt_page(report).status_code == 200
    assert check("ZZZZ2222").status_code == 404


def test_the_guess_limit_keeps_no_address(w: World, settings: Any) -> None:
    settings.RECEIPT_MISSES_PER_10MIN = 3
    for n in range(5):
        check(f"ZZZZ222{n + 2}")
    keys = " ".join(cache._cache)  # type: ignore[attr-defined]  # LocMemCache's own dict
    assert "tocsin:rl:receipt:" in keys
    assert ip_addresses(keys) == [] and "198.51" not in keys


def test_a_receipt_is_eight_characters_that_cannot_be_misread_each_one_possible() -> None:
    seen: set[str] = set()
    for _ in range(400):
        code = new_receipt()
        assert len(code) == RECEIPT_LENGTH == 8
        assert set(code) <= set(RECEIPT_ALPHABET)
        seen |= set(code)
    assert not set("IO01") & set(RECEIPT_ALPHABET)
    assert seen == set(RECEIPT_ALPHABET)
