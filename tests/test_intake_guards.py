"""Intake guards on the web form: proof of work, private rate limits, burst detection."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import serializers
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from tests import pow_support
from tests.factories import EAST, WEST, World
from tests.privacy_support import LogCapture, ip_addresses
from tocsin.incidents.reports import receive_report
from tocsin.intake import burst, pow
from tocsin.intake.models import Channel, Report, ReportKind
from tocsin.lib import ratelimit
from tocsin.members.models import Member

TEXT = "Three unmarked vans by the laundromat on Cesar Chavez."
ADDRESS = "198.51.100.23"
SAME_NETWORK = "198.51.100.201"
OTHER_NETWORK = "198.51.101.23"
V6 = "2001:db8:5e1:2ed::77"
V6_SAME_48 = "2001:db8:5e1:ffff::1"
V6_OTHER_48 = "2001:db8:5e2::77"


def as_(persona: Member) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client


def form(place: tuple[float, float] = EAST, **fields: Any) -> dict[str, Any]:
    return {
        "kind": "checkpoint",
        "text": TEXT,
        "lat": place[0],
        "lng": place[1],
        "nonce": fields.pop("nonce", None) or f"n-{time.monotonic_ns()}",
        "altcha": pow_support.solution(),
        **fields,
    }


def post(data: dict[str, Any], address: str = ADDRESS, **extra: Any) -> Any:
    return Client().post(reverse("report"), data, REMOTE_ADDR=address, **extra)


def textarea(page: str) -> str | None:
    match = re.search(r'<textarea name="text"[^>]*>\n?(.*?)</textarea>', page, re.S)
    return match.group(1) if match else None


def payload(**changes: Any) -> str:
    """Return a solved challenge's payload with ``changes`` made to its JSON."""
    data = json.loads(base64.b64decode(pow_support.solve(pow.make_challenge())))
    data.update(changes)
    return base64.b64encode(json.dumps(data).encode()).decode()


# Proof of work.


def test_a_solved_challenge_verifies_once() -> None:
    challenge = pow.make_challenge()
    assert challenge["algorithm"] == "SHA-256"
    assert "?expires=" in challenge["salt"]
    solution = pow.verify(pow_support.solve(challenge))
    pow.redeem(solution)
    with pytest.raises(pow.Refused) as refused:
        pow.redeem(pow.verify(pow_support.solve(challenge)))
    assert refused.value.code == "reused"


@pytest.mark.parametrize(
    "changes",
    [
        {"signature": "0" * 64},
        {"number": 10_000_001},
        {"challenge": "f" * 64},
        {"salt": "attacker?expires=9999999999"},
    ],
)
def test_a_tampered_solution_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(pow.Refused) as refused:
        pow.verify(payload(**changes))
    assert refused.value.code == "wrong"


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"[1]").decode()])
def test_a_missing_or_malformed_solution_is_refused(text: str) -> None:
    with pytest.raises(pow.Refused) as refused:
        pow.verify(text)
    assert refused.value.code in {"missing", "malformed"}


def test_an_expired_challenge_is_refused() -> None:
    long_ago = time.time() - pow.EXPIRES_SECONDS - 1
    text = pow_support.solve(pow.make_challenge(now=long_ago))
    with pytest.raises(pow.Refused) as refused:
        pow.verify(text)
    assert refused.value.code == "expired"


def test_a_challenge_signed_with_another_key_is_refused(settings: Any) -> None:
    text = pow_support.solve(pow.make_challenge())
    settings.SECRET_KEY = "another-" + settings.SECRET_KEY
    with pytest.raises(pow.Refused):
        pow.verify(text)


def test_a_challenge_fetched_while_quiet_stops_counting_under_load(settings: Any) -> None:
    """A flooder cannot stockpile cheap challenges at quiet time for the flood."""
    settings.POW_MIN, settings.POW_MAX = 1000, 100_000
    now = time.time()
    stockpiled = pow_support.solve(pow.make_challenge(now=now))
    assert "&max=1000" in json.loads(base64.b64decode(stockpiled))["salt"]
    for _ in range(200):
        pow.record_load(now=now)
    with pytest.raises(pow.Refused) as refused:
        pow.verify(stockpiled, now=now)
    assert refused.value.code == "stale"
    # One as hard as the load asks for counts.
    assert pow.verify(pow_support.solve(pow.make_challenge(now=now)), now=now)


def test_a_challenge_a_little_easier_than_a_new_one_still_counts(settings: Any) -> None:
    settings.POW_MIN, settings.POW_MAX = 1000, 100_000
    now = time.time()
    easier = pow_support.solve(pow.make_challenge(now=now))
    pow.record_load(now=now)  # difficulty rises to 2,650: less than 4 times 1,000
    assert pow.difficulty(now=now) < pow.STALE_FACTOR * 1000
    assert pow.verify(easier, now=now)


def test_difficulty_rises_with_load(settings: Any) -> None:
    settings.POW_MIN, settings.POW_MAX = 1000, 100_000
    now = time.time()
    assert pow.difficulty(now=now) == 1000
    for _ in range(10):
        pow.record_load(now=now)
    some = pow.difficulty(now=now)
    assert 1000 < some < 100_000
    for _ in range(200):
        pow.record_load(now=now)
    assert pow.difficulty(now=now) == 100_000
    assert pow.make_challenge(now=now)["maxnumber"] == 100_000
    # Load is the last minutes': it falls back to the floor.
    assert pow.difficulty(now=now + 180) == 1000


def test_the_challenge_endpoint_sets_no_cookie(db: None) -> None:
    response = Client().get(reverse("report_challenge"))
    assert response.status_code == 200
    assert not response.cookies
    assert response["Cache-Control"] == "no-store"
    assert set(response.json()) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}


def test_the_form_page_loads_the_solver(w: World) -> None:
    page = Client().get(reverse("report")).content.decode()
    assert "js/pow.js" in page
    assert reverse("report_challenge") in page
    assert "<noscript>" in page


def test_a_report_with_a_solution_is_taken(w: World) -> None:
    response = post(form())
    assert response.status_code == 302
    assert Report.objects.get().text == TEXT


def test_a_report_without_a_solution_is_refused_and_keeps_the_text(w: World) -> None:
    response = post(form(altcha=""))
    page = response.content.decode()
    assert response.status_code == 400
    assert "needs JavaScript for its anti-flood check" in page
    assert textarea(page) == escape(TEXT)
    assert not Report.objects.exists()


def test_a_report_with_a_bad_solution_is_refused_and_keeps_the_text(w: World) -> None:
    response = post(form(altcha=payload(signature="0" * 64)))
    page = response.content.decode()
    assert response.status_code == 400
    assert "The anti-flood check did not pass" in page
    assert textarea(page) == escape(TEXT)
    assert not Report.objects.exists()


def test_a_reused_solution_is_refused(w: World) -> None:
    data = form()
    assert post(data).status_code == 302
    response = post({**data, "nonce": "another-form"})
    assert response.status_code == 400
    assert "The anti-flood check did not pass" in response.content.decode()
    assert Report.objects.count() == 1


def test_a_double_submit_with_one_solution_gets_the_first_receipt(w: World) -> None:
    data = form()
    first, second = post(data), post(data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]


def test_the_no_javascript_page_speaks_spanish(w: World) -> None:
    response = post(form(altcha=""), HTTP_ACCEPT_LANGUAGE="es")
    with translation.override("es"):
        from tocsin.intake.forms import pow_refused

        spanish = pow_refused("missing")
    with translation.override("en"):
        assert spanish != pow_refused("missing")
    assert escape(spanish) in response.content.decode()


# Private rate limits.


def test_addresses_in_one_network_share_a_source() -> None:
    assert ratelimit.source_key(ADDRESS) == ratelimit.source_key(SAME_NETWORK)
    assert ratelimit.source_key(ADDRESS) != ratelimit.source_key(OTHER_NETWORK)
    assert ratelimit.source_key(V6) == ratelimit.source_key(V6_SAME_48)
    assert ratelimit.source_key(V6) != ratelimit.source_key(V6_OTHER_48)
    assert ratelimit.source_key(f"::ffff:{ADDRESS}") == ratelimit.source_key(ADDRESS)
    assert ratelimit.source_key("not an address") is None


def test_sources_change_with_the_day() -> None:
    today = dt.date(2026, 11, 29)
    tomorrow = today + dt.timedelta(days=1)
    assert ratelimit.source_key(ADDRESS, day=today) == ratelimit.source_key(ADDRESS, day=today)
    assert ratelimit.source_key(ADDRESS, day=today) != ratelimit.source_key(ADDRESS, day=tomorrow)


def test_the_source_middleware_runs_before_the_address_is_dropped() -> None:
    middleware = django_settings.MIDDLEWARE
    assert middleware.index("tocsin.lib.ratelimit.SourceMiddleware") < middleware.index(
        "tocsin.lib.middleware.PrivacyMiddleware"
    )


@pytest.fixture
def cheap_pow(settings: Any) -> None:
    """Proofs of work a test solves in a moment: the floor, the ceiling, and the harder
    one a network past its share needs."""
    settings.POW_MIN, settings.POW_MAX, settings.POW_BURST = 1000, 1000, 4000


def hard_solution(address: str) -> str:
    """Solve a challenge fetched from ``address``'s network, as its page would."""
    return pow_support.solution(Client(REMOTE_ADDR=address))


def test_a_network_past_its_share_gets_a_harder_challenge(
    w: World, settings: Any, cheap_pow: None
) -> None:
    settings.REPORT_RATE_PER_10MIN = 1
    fetch = Client(REMOTE_ADDR=ADDRESS)
    assert fetch.get(reverse("report_challenge")).json()["maxnumber"] == 1000
    assert post(form()).status_code == 302
    assert fetch.get(reverse("report_challenge")).json()["maxnumber"] == 4000
    # Another network is not affected.
    other = Client(REMOTE_ADDR=OTHER_NETWORK).get(reverse("report_challenge")).json()
    assert other["maxnumber"] == 1000


def test_a_report_past_its_networks_share_is_taken_into_the_burst_lane(
    w: World, settings: Any, cheap_pow: None
) -> None:
    settings.REPORT_RATE_PER_10MIN = 2
    assert post(form()).status_code == 302
    assert post(form(), SAME_NETWORK).status_code == 302
    taken = post(form(altcha=hard_solution(ADDRESS)))
    assert taken.status_code == 302
    first, second, third = Report.objects.order_by("received_at", "id")
    assert not first.suspicious and not second.suspicious
    assert third.suspicious and third.burst_group
    # The reporter sees an ordinary receipt: nothing says "suspicious".
    receipt = Client().get(taken["Location"]).content.decode()
    assert "Received" in receipt and "uspicious" not in receipt and "flood" not in receipt


def test_a_report_past_its_share_with_an_easy_solution_is_sent_back_with_its_text(
    w: World, settings: Any, cheap_pow: None
) -> None:
    """Its page fetched the challenge before the network went past its share."""
    settings.REPORT_RATE_PER_10MIN = 1
    assert post(form()).status_code == 302
    refused = post(form())
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "needs a longer anti-flood check" in page
    assert textarea(page) == escape(TEXT)
    assert Report.objects.count() == 1
    # Sent back, it counts for nothing: the next (with the harder proof) is taken.
    assert post(form(altcha=hard_solution(ADDRESS))).status_code == 302


def test_a_network_far_past_its_share_gets_429_the_hotlines_and_keeps_the_text(
    w: World, settings: Any, cheap_pow: None
) -> None:
    settings.REPORT_RATE_PER_10MIN, settings.REPORT_REFUSE_PER_10MIN = 1, 2
    w.east.hotline_numbers = ["+12135550142"]
    w.east.save()
    assert post(form()).status_code == 302
    assert post(form(altcha=hard_solution(ADDRESS)), SAME_NETWORK).status_code == 302
    refused = post(form(altcha=hard_solution(ADDRESS)))
    page = refused.content.decode()
    assert refused.status_code == 429
    assert refused["Retry-After"] == "600"
    assert "faster than people can type" in page
    refusal = page[page.index('data-testid="refusal"') :]
    assert 'href="tel:+12135550142"' in refusal[: refusal.index("</div>")]
    assert "(213) 555-0142" in refusal
    assert textarea(page) == escape(TEXT)
    assert post(form(altcha=hard_solution(ADDRESS)), SAME_NETWORK).status_code == 429
    assert post(form(), OTHER_NETWORK).status_code == 302
    assert Report.objects.count() == 3


def test_a_refusal_is_a_small_page_not_the_form(
    w: World, settings: Any, django_assert_max_num_queries: Any
) -> None:
    """A flood is answered with 429s: each costs no more than a near-empty page (no form,
    no map, no place search, and no query once the hotlines are in the cache)."""
    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    assert post(form()).status_code == 302
    first = form()
    with django_assert_max_num_queries(2):
        refused = post(first)
    assert refused.status_code == 429
    names = [t.name for t in refused.templates]
    assert "intake/refused.html" in names
    assert "intake/report.html" not in names and "base.html" not in names
    page = refused.content.decode()
    assert "Try again at about" in page
    assert 'name="altcha"' not in page  # a new proof of work comes with the form
    again = form()
    with django_assert_max_num_queries(0):
        assert post(again).status_code == 429  # the hotlines from the cache


def test_a_refused_report_goes_back_to_the_form_with_what_was_written(
    w: World, settings: Any
) -> None:
    """Without JavaScript too: the refusal's one button posts what was written back, and
    the form comes back filled in, counting nothing against the network."""
    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    assert post(form()).status_code == 302
    sent = form(kind="agents_seen", nonce="kept-nonce")
    page = post(sent).content.decode()
    back = re.search(r'<form method="post" action="/report/"[^>]*>(.*?)</form>', page, re.S)
    assert back is not None
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', back.group(1)))
    assert fields["kind"] == "agents_seen" and fields["nonce"] == "kept-nonce"
    assert 'name="restore"' in back.group(1) and textarea(back.group(1)) == escape(TEXT)
    restored = post({**fields, "text": TEXT, "restore": "1"})
    again = restored.content.decode()
    assert restored.status_code == 200
    assert "intake/report.html" in [t.name for t in restored.templates]
    assert textarea(again) == escape(TEXT)
    assert re.search(r'<input type="radio" name="kind" value="agents_seen"[^>]* checked', again)
    assert 'name="nonce" value="kept-nonce"' in again
    assert 'data-testid="refusal"' not in again
    assert Report.objects.count() == 1


def test_an_ipv6_network_far_past_its_share_gets_429(w: World, settings: Any) -> None:
    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    assert post(form(), V6).status_code == 302
    assert post(form(), V6_SAME_48).status_code == 429
    assert post(form(), V6_OTHER_48).status_code == 302


def test_the_limit_speaks_spanish(w: World, settings: Any) -> None:
    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    post(form())
    response = post(form(), HTTP_ACCEPT_LANGUAGE="es")
    with translation.override("es"):
        from tocsin.intake.forms import pow_refused, too_many_reports

        spanish = too_many_reports()
        harder = pow_refused("harder")
    assert response.status_code == 429
    with translation.override("en"):
        assert spanish != too_many_reports()
        assert harder != pow_refused("harder")
    assert escape(spanish) in response.content.decode()
    with translation.override("es"):
        back = translation.gettext("Back to the form with what you wrote")
    assert back != "Back to the form with what you wrote"
    assert escape(back) in response.content.decode()


def test_no_address_reaches_the_cache_database_or_log(w: World, settings: Any) -> None:
    settings.REPORT_RATE_PER_10MIN = 2
    with LogCapture() as logs:
        for address in (ADDRESS, SAME_NETWORK, ADDRESS, V6, OTHER_NETWORK):
            post(form(), address, HTTP_X_FORWARDED_FOR=V6_OTHER_48)
    stored = cache._cache  # type: ignore[attr-defined]  # LocMemCache's own dict
    keys = " ".join(stored)
    source = ratelimit.source_key(ADDRESS)
    assert source and any(source in k for k in stored)
    for value in (keys, logs.text):
        assert ip_addresses(value) == [], value
        assert "198.51" not in value and "2001:db8" not in value
    rows = serializers.serialize("json", Report.objects.all())
    assert ip_addresses(rows) == []
    assert "198.51" not in rows and "2001:db8" not in rows


def test_forwarded_for_is_ignored_without_trusted_proxies(db: None) -> None:
    assert ratelimit.client_address("10.0.0.5", ADDRESS, []) == "10.0.0.5"
    assert ratelimit.client_address("10.0.0.5", ADDRESS, ratelimit.trusted_proxies()) == "10.0.0.5"


def test_a_trusted_proxy_passes_on_the_client_address(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "192.0.2.1"]
    trusted = ratelimit.trusted_proxies()
    assert ratelimit.client_address("10.0.0.5", ADDRESS, trusted) == ADDRESS
    # A client can prepend anything: only the hop the proxies saw counts.
    spoofed = f"203.0.113.9, {ADDRESS}, 192.0.2.1"
    assert ratelimit.client_address("10.0.0.5", spoofed, trusted) == ADDRESS
    # An untrusted peer's header is not believed.
    assert ratelimit.client_address("198.51.100.99", "203.0.113.9", trusted) == "198.51.100.99"


def test_the_limit_follows_the_forwarded_network_behind_a_trusted_proxy(
    w: World, settings: Any
) -> None:
    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert post(form(), "127.0.0.1", HTTP_X_FORWARDED_FOR=ADDRESS).status_code == 302
    assert post(form(), "127.0.0.1", HTTP_X_FORWARDED_FOR=SAME_NETWORK).status_code == 429
    assert post(form(), "127.0.0.1", HTTP_X_FORWARDED_FOR=OTHER_NETWORK).status_code == 302


# Burst detection.


def network(n: int) -> str:
    return f"203.0.{n}.10"


def test_a_burst_from_new_sources_goes_to_the_suspicious_lane(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 3
    for n in range(5):
        assert post(form(), network(n)).status_code == 302
    flags = list(Report.objects.order_by("received_at", "id").values_list("suspicious", flat=True))
    assert flags == [False, False, False, True, True]
    assert not Report.objects.filter(incident__isnull=False).exists()

    page = as_(w.dispatcher).get(reverse("desk")).content.decode()
    lane = page[page.index('data-testid="suspicious-lane"') :]
    assert "Suspicious (possible flood)" in lane
    assert 'data-testid="suspicious-count">2<' in lane
    assert '<details id="burst-lane">' in lane and "<details open" not in lane
    assert 'data-testid="report-count">3<' in page
    for r in Report.objects.filter(suspicious=True):
        assert f'data-suspicious-report="{r.pk}"' in lane
        assert f'data-report="{r.pk}"' not in page


def test_a_normal_trickle_is_not_suspicious(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 3
    window = settings.BURST_MINUTES * 60
    start = time.time()
    sources = [ratelimit.source_key(network(n)) for n in range(8)]
    # New sources, but two windows apart.
    for n, source in enumerate(sources):
        assert not burst.suspicious(source, *EAST, now=start + n * 2 * window)
    # Many reports at once from sources that first reported more than an hour ago.
    later = start + 16 * window + settings.BURST_NEW_SOURCE_MINUTES * 60
    assert not any(burst.suspicious(s, *EAST, now=later) for s in sources * 3)


def test_a_new_source_stays_new_for_the_whole_of_a_flood(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 3
    now = time.time()
    sources = [ratelimit.source_key(network(n)) for n in range(2)]
    # Two networks, many reports each, minutes apart: every one is from a new source.
    flags = [
        burst.suspicious(source, *EAST, now=now + minute * 60)
        for minute in range(4)
        for source in sources
    ]
    assert flags == [False, False, False, True, True, True, True, True]


def test_a_burst_in_one_area_leaves_another_alone(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 2
    now = time.time()
    for n in range(3):
        burst.suspicious(ratelimit.source_key(network(n)), *EAST, now=now)
    assert not burst.suspicious(ratelimit.source_key(network(50)), *WEST, now=now)


def test_reports_from_members_channels_are_never_suspicious(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 1
    for n in range(3):
        post(form(), network(n))
    for channel in (Channel.SMS, Channel.SIGNAL, Channel.TELEGRAM):
        r = receive_report(channel=channel, kind=ReportKind.CHECKPOINT, lat=EAST[0], lng=EAST[1])
        assert not r.suspicious


def test_a_dispatcher_can_open_or_dismiss_a_suspicious_report(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 1
    for n in range(3):
        post(form(), network(n))
    first, second = Report.objects.filter(suspicious=True)
    desk = as_(w.dispatcher)
    assert desk.post(reverse("dismiss_report", args=[first.pk])).status_code == 302
    assert desk.post(reverse("open_report", args=[second.pk])).status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.dismissed and second.incident is not None
    assert "suspicious-lane" not in desk.get(reverse("desk")).content.decode()


def test_outsiders_and_other_committees_do_not_see_the_lane(w: World, settings: Any) -> None:
    settings.BURST_NEW_SOURCES = 1
    for n in range(3):
        post(form(), network(n))
    receipt = Report.objects.filter(suspicious=True).first().receipt  # type: ignore[union-attr]
    outsider = as_(w.outsider).get(reverse("desk"))
    assert outsider.status_code == 403
    west = as_(w.west_dispatcher).get(reverse("desk")).content.decode()
    assert "suspicious-lane" not in west and receipt not in west
    member = as_(w.member).get(reverse("desk"))
    assert member.status_code in {403, 404} and receipt not in member.content.decode()
    anonymous = Client().get(reverse("desk"))
    assert anonymous.status_code == 302


def test_a_network_gets_its_share_and_no_more_even_across_a_window_edge(
    settings: Any,
) -> None:
    from tocsin.lib import ratelimit

    settings.REPORT_RATE_PER_10MIN, settings.REPORT_REFUSE_PER_10MIN = 10, 12
    within, over, refused = ratelimit.Share.WITHIN, ratelimit.Share.OVER, ratelimit.Share.REFUSED
    edge = 600.0 * 3_000_000  # the start of a fixed window
    taken = [ratelimit.take("net-a", now=edge - 1) for _ in range(14)]
    assert taken == [within] * 10 + [over] * 2 + [refused] * 2
    # Just after the edge the previous window still counts: no second share at once.
    assert ratelimit.take("net-a", now=edge + 1) is refused
    # Half a window later, half of the previous count is back.
    later = [ratelimit.take("net-a", now=edge + 300) for _ in range(10)]
    assert later.count(within) == 4 and later.count(over) == 2 and later.count(refused) == 4


def test_a_report_that_is_not_stored_gives_its_place_back(settings: Any) -> None:
    from tocsin.lib import ratelimit

    settings.REPORT_RATE_PER_10MIN = settings.REPORT_REFUSE_PER_10MIN = 1
    assert ratelimit.take("net-b", now=1200.0) is ratelimit.Share.WITHIN
    ratelimit.give_back("net-b", now=1200.0)
    assert ratelimit.take("net-b", now=1200.0) is ratelimit.Share.WITHIN
    assert ratelimit.take("net-b", now=1200.0) is ratelimit.Share.REFUSED
