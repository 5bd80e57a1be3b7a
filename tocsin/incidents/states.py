"""The incident state machine (DESIGN.md section 3): a pure function and its table."""

from __future__ import annotations

from tocsin.incidents.models import State

# state -> states it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    State.REPORTED: frozenset({State.VERIFYING, State.CONFIRMED, State.UNFOUNDED}),
    State.VERIFYING: frozenset({State.CONFIRMED, State.UNFOUNDED}),
    State.CONFIRMED: frozenset({State.RESOLVED, State.UNFOUNDED}),
    State.RESOLVED: frozenset(),
    State.UNFOUNDED: frozenset(),
    # Only merging (tocsin.incidents.services.merge) closes an incident this way.
    State.MERGED: frozenset(),
}


class TransitionError(ValueError):
    """The incident cannot move from its state to the one asked for."""


def next_state(current: str, wanted: str) -> str:
    """Return ``wanted`` if an incident in ``current`` may move there, else raise."""
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"cannot go from {current} to {wanted}")
    return wanted


def notice_for(previous: str, new: str, *, members_were_alerted: bool) -> str | None:
    """Return which notice members get for a transition: confirmed, all_clear, correction, or None.

    Members hear only about confirmed incidents; they hear of its end only if they heard of it.
    """
    if new == State.CONFIRMED:
        return "confirmed"
    if not members_were_alerted:
        return None
    if new == State.RESOLVED:
        return "all_clear"
    if new == State.UNFOUNDED:
        return "correction"
    return None
