"""The organizing dashboard's committee figures: members over time, invites, join requests,
vouching depth and shift coverage.

Each figure is one or two SQL queries (aggregates, or one list of two columns), never one
per member. Exact counts: only the committee's organizers see them. The figures of
incidents and mobilizations, which live above committees, are in tocsin.mobilize.dashboard.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from tocsin.committees.models import Committee, Invite, Membership

# The dashboard looks back this many weeks.
WEEKS = 12
# Shift coverage looks this many days back and ahead.
COVERAGE_DAYS = 7


def week_starts(now: datetime | None = None, weeks: int = WEEKS) -> list[datetime]:
    """Return the starts (Monday 00:00, local time: TOCSIN_TIME_ZONE) of the last ``weeks``
    weeks, oldest first; the last is this week's."""
    today = timezone.localtime(now or timezone.now()).date()
    monday = today - timedelta(days=today.weekday())
    return [_local_midnight(monday - timedelta(weeks=weeks - 1 - i)) for i in range(weeks)]


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _by_week(field: str, starts: Sequence[datetime], now: datetime) -> dict[str, Count]:
    """Return conditional counts, one per week (``w0`` …), of rows whose ``field`` falls
    in it; the last week runs to ``now``. One query does them all."""
    filters = _week_filters(field, starts, now)
    return {f"w{i}": Count("pk", filter=q) for i, q in enumerate(filters)}


def _week_filters(field: str, starts: Sequence[datetime], now: datetime) -> list[Q]:
    """Return one filter per week: ``field`` from its start to the next week's (the last
    week's to ``now``)."""
    filters = [
        Q(**{f"{field}__gte": start, f"{field}__lt": end})
        for start, end in zip(starts, starts[1:], strict=False)
    ]
    return [*filters, Q(**{f"{field}__gte": starts[-1], f"{field}__lte": now})]


@dataclass(frozen=True)
class Week:
    start: date
    value: int


def members_over_time(committee: Committee, now: datetime | None = None) -> list[Week]:
    """Return, for each of the last WEEKS weeks, how many of today's members had joined by
    its end (those who left are not counted: their memberships are gone)."""
    now = now or timezone.now()
    starts = week_starts(now)
    counts = Membership.objects.filter(committee=committee).aggregate(
        before=Count("pk", filter=Q(joined_at__lt=starts[0])),
        **_by_week("joined_at", starts, now),
    )
    total = counts["before"]
    weeks = []
    for i, start in enumerate(starts):
        total += counts[f"w{i}"]
        weeks.append(Week(timezone.localtime(start).date(), total))
    return weeks


@dataclass(frozen=True)
class InviteWeek:
    start: date
    made: int
    joined: int


def invites(committee: Committee, now: datetime | None = None) -> list[InviteWeek]:
    """Return, per week, the invites made (shared links and personal ones) and how many
    people joined by them. An invite's uses count in the week it was made: uses carry
    no time of their own."""
    now = now or timezone.now()
    starts = week_starts(now)
    made: dict[str, Count | Sum] = {}
    for i, q in enumerate(_week_filters("created_at", starts, now)):
        made[f"made{i}"] = Count("pk", filter=q)
        made[f"joined{i}"] = Sum("uses", filter=q)
    counts = Invite.objects.filter(committee=committee).aggregate(**made)
    return [
        InviteWeek(
            timezone.localtime(start).date(),
            counts[f"made{i}"] or 0,
            counts[f"joined{i}"] or 0,
        )
        for i, start in enumerate(starts)
    ]


def join_requests_waiting(committee: Committee) -> int | None:
    """Return how many requests to join wait for an organizer; None until join requests
    exist (the dashboard shows "—")."""
    return None


def depths(links: Iterable[tuple[int, int | None]]) -> Counter[int]:
    """Return how many members sit at each depth of the vouching tree, from (member,
    voucher) pairs: 1 for a member nobody in the committee vouched for, 2 for those they
    vouched for, and so on. A loop (someone removed came back through a person they had
    vouched for) counts from where it is entered, once per member."""
    voucher_of = dict(links)
    depth: dict[int, int] = {}
    for start in voucher_of:
        path: list[int] = []
        seen: set[int] = set()
        node: int | None = start
        while node is not None and node in voucher_of and node not in depth:
            if node in seen:  # a loop: its members start again at 1
                break
            seen.add(node)
            path.append(node)
            node = voucher_of[node]
        base = depth.get(node, 0) if node is not None else 0
        for offset, member in enumerate(reversed(path), start=1):
            depth[member] = base + offset
    return Counter(depth.values())


def vouching_depth(committee: Committee) -> Counter[int]:
    """Return how many members sit at each depth of the committee's vouching tree."""
    links = Membership.objects.filter(committee=committee).values_list("member_id", "vouched_by_id")
    return depths((member, voucher if voucher != member else None) for member, voucher in links)


@dataclass(frozen=True)
class Coverage:
    """Hours with at least one person on shift, per day and over the last and next
    COVERAGE_DAYS days."""

    days: list[tuple[date, float]]
    past_hours: float
    next_hours: float
    window_hours: int


def covered_hours(
    intervals: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> float:
    """Return the hours between ``start`` and ``end`` with at least one interval running
    (overlapping shifts count once)."""
    clipped = sorted(
        (max(a, start), min(b, end)) for a, b in intervals if b > start and a < end and b > a
    )
    total = timedelta()
    current: tuple[datetime, datetime] | None = None
    for a, b in clipped:
        if current is None or a > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (a, b)
        else:
            current = (current[0], max(current[1], b))
    if current is not None:
        total += current[1] - current[0]
    return total.total_seconds() / 3600


def shift_coverage(committee: Committee, now: datetime | None = None) -> Coverage:
    """Return the committee's shift coverage (the duty roster, tocsin.committees.models.Shift)
    over the last and the next COVERAGE_DAYS days, and per local day."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    first = _local_midnight(today - timedelta(days=COVERAGE_DAYS))
    last = _local_midnight(today + timedelta(days=COVERAGE_DAYS))
    shifts: QuerySet = committee.shifts.filter(starts_at__lt=last, ends_at__gt=first)
    intervals = list(shifts.values_list("starts_at", "ends_at"))
    days = []
    for n in range(COVERAGE_DAYS * 2):
        day = today + timedelta(days=n - COVERAGE_DAYS)
        hours = covered_hours(
            intervals, _local_midnight(day), _local_midnight(day + timedelta(days=1))
        )
        days.append((day, round(hours, 1)))
    window = timedelta(days=COVERAGE_DAYS)
    return Coverage(
        days=days,
        past_hours=round(covered_hours(intervals, now - window, now), 1),
        next_hours=round(covered_hours(intervals, now, now + window), 1),
        window_hours=COVERAGE_DAYS * 24,
    )
