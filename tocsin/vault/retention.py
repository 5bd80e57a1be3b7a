"""Retention rules: how long each class of stored data lives. Pure functions, no models.

Each class has one clock (when its age starts) and one period (a ``RETAIN_*`` setting).
``cutoffs`` turns "now" and the settings into one instant per class: a row whose clock
reads at or before its class's cutoff has reached its age and is purged; a row a moment
younger is kept. ``tocsin.retention.purge`` applies the cutoffs to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

REPORTS = "reports"
UNATTACHED_REPORTS = "unattached_reports"
REPORT_PHOTOS = "report_photos"
INCIDENT_SUMMARIES = "incident_summaries"
DELIVERIES = "deliveries"
RESPONSES = "responses"
LOGIN_CODES = "login_codes"
SESSIONS = "sessions"
TASK_RESULTS = "task_results"
DEMO_MESSAGES = "demo_messages"
VERIFIER_NOTES = "verifier_notes"
COMMITTEE_POSTS = "committee_posts"
SHIFTS = "shifts"
SOURCE_TAGS = "source_tags"
RSVPS = "rsvps"
JOIN_REQUESTS = "join_requests"
COMMITTEE_REQUESTS = "committee_requests"
PARTNER_ALERTS = "partner_alerts"
LEGAL_CASES = "legal_cases"
INTERPRETER_CALLS = "interpreter_calls"
PANIC_TRIGGERS = "panic_triggers"


@dataclass(frozen=True)
class Rule:
    """One class of data: the setting that holds its period, its unit, and its clock."""

    setting: str | None
    unit: str  # "hours" or "days"
    clock: str


# Report photos go with their report, so they have no rule of their own; they are a
# class only so the purge counts them. Sessions go as soon as they expire.
RULES: dict[str, Rule] = {
    REPORTS: Rule("RETAIN_REPORTS_HOURS", "hours", "the incident closed"),
    UNATTACHED_REPORTS: Rule(
        "RETAIN_UNATTACHED_REPORTS_HOURS", "hours", "the report arrived (never attached)"
    ),
    INCIDENT_SUMMARIES: Rule("RETAIN_REPORTS_HOURS", "hours", "the incident closed"),
    DELIVERIES: Rule("RETAIN_DELIVERIES_DAYS", "days", "the alert was sent"),
    RESPONSES: Rule("RETAIN_RESPONSES_DAYS", "days", "the incident closed"),
    LOGIN_CODES: Rule("RETAIN_LOGIN_CODES_HOURS", "hours", "the code expired"),
    SESSIONS: Rule(None, "hours", "the session expired"),
    TASK_RESULTS: Rule("RETAIN_TASK_RESULTS_DAYS", "days", "the task finished"),
    DEMO_MESSAGES: Rule("RETAIN_DEMO_MESSAGES_DAYS", "days", "the message arrived"),
    # A verifier's free-text notes (vehicles, what is happening) go with the reports; the
    # answer itself stays, as it feeds the verifier's accuracy.
    VERIFIER_NOTES: Rule("RETAIN_REPORTS_HOURS", "hours", "the incident closed"),
    COMMITTEE_POSTS: Rule("RETAIN_DELIVERIES_DAYS", "days", "the alert was sent"),
    SHIFTS: Rule("RETAIN_RESPONSES_DAYS", "days", "the shift ended"),
    # "The same source as that report" is needed for a quorum, within minutes; the key
    # that made the tag is gone after two days anyway (tocsin/intake/sources.py).
    SOURCE_TAGS: Rule("RETAIN_SOURCE_TAGS_HOURS", "hours", "the report arrived"),
    # Sign-ups to planned mobilizations, their sealed addresses and messages.
    RSVPS: Rule("RETAIN_RSVPS_DAYS", "days", "the mobilization ended"),
    # Requests to join a committee and to start one, with their sealed addresses: gone
    # when unanswered after 14 days, or once the join link they carry stops working.
    JOIN_REQUESTS: Rule(None, "days", "the request expired"),
    COMMITTEE_REQUESTS: Rule(None, "days", "the request expired"),
    # What a partner network's alerts were (CAP identifiers, signature nonces, the report
    # each became), against replays: a signature is refused after five minutes anyway.
    PARTNER_ALERTS: Rule("RETAIN_REPORTS_HOURS", "hours", "the alert arrived"),
    # Legal cases with their tasks, timeline and notices, unless the legal team keeps one.
    LEGAL_CASES: Rule("RETAIN_CASES_DAYS", "days", "the case closed (unless kept)"),
    # An interpreter sent for an incident (not a case): who went, in which language.
    INTERPRETER_CALLS: Rule("RETAIN_RESPONSES_DAYS", "days", "the interpreter was asked"),
    # Panic triggers (who pressed, how, when) and the messages to the contacts they sent.
    PANIC_TRIGGERS: Rule("RETAIN_PANIC_DAYS", "days", "the panic was triggered"),
}

# Every class the purge reports, in the order it runs.
CLASSES: tuple[str, ...] = (
    REPORT_PHOTOS,
    REPORTS,
    UNATTACHED_REPORTS,
    INCIDENT_SUMMARIES,
    DELIVERIES,
    RESPONSES,
    LOGIN_CODES,
    SESSIONS,
    TASK_RESULTS,
    DEMO_MESSAGES,
    VERIFIER_NOTES,
    COMMITTEE_POSTS,
    SHIFTS,
    SOURCE_TAGS,
    RSVPS,
    JOIN_REQUESTS,
    COMMITTEE_REQUESTS,
    PARTNER_ALERTS,
    LEGAL_CASES,
    INTERPRETER_CALLS,
    PANIC_TRIGGERS,
)


def period(rule: Rule, config: Any) -> timedelta:
    """Return how long ``rule``'s class is kept under ``config`` (the settings)."""
    if rule.setting is None:
        return timedelta(0)
    value = getattr(config, rule.setting)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{rule.setting} must be a whole number >= 0, not {value!r}")
    return timedelta(hours=value) if rule.unit == "hours" else timedelta(days=value)


def cutoffs(now: datetime, config: Any) -> dict[str, datetime]:
    """Return, per class, the latest clock reading that is old enough to purge."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return {name: now - period(rule, config) for name, rule in RULES.items()}


def is_due(clock: datetime | None, cutoff: datetime) -> bool:
    """Return whether a row whose clock reads ``clock`` is purged at ``cutoff``.

    A row whose clock has not started (an incident still open: ``None``) is never due.
    """
    return clock is not None and clock <= cutoff
