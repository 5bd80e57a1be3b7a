"""The incident state machine (DESIGN.md section 3): a pure function and its table."""

from __future__ import annotations

from tocsin.incidents.models import State

# state -> states it may move to
TRANSITIONS: dict[str, frozenset[str]] = {
    State.REPORTED: frozenset({State.VERIFYING, State.CONFIRMED, State.UNFOUNDED, State.EXPIRED}),
    State.VERIFYING: frozenset({State.CONFIRMED, State.UNFOUNDED, State.EXPIRED}),
    State.CONFIRMED: frozenset({State.RESOLVED, State.UNFOUNDED}),
    State.RESOLVED: frozenset(),
    State.UNFOUNDED: frozenset(),
    # Only merging (tocsin.incidents.services.merge) closes an incident this way.
    State.MERGED: frozenset(),
    State.EXPIRED: frozenset(),
}

# What the desk offers a dispatcher: merging and expiry have their own paths (the merge
# form; the committee's rules, tocsin.incidents.verify.expire_stale).
AUTOMATIC = frozenset({State.MERGED, State.EXPIRED})


def choices(current: str) -> list[str]:
    """Return the states a dispatcher may move an incident in ``current`` to."""
    return sorted(TRANSITIONS.get(current, frozenset()) - AUTOMATIC)


class TransitionError(ValueError):
    """The incident cannot move from its state to the one asked for."""


def next_state(current: str, wanted: str) -> str:
    """Return ``wanted`` if an incident in ``current`` may move there, else raise."""
    if wanted not in TRANSITIONS.get(current, frozenset()):
        raise TransitionError(f"cannot go from {current} to {wanted}")
    return wanted


def notice_for(previous: str, new: str, *, members_were_alerted: bool) -> str | None:
    """Return which notice a transition sends: confirmed, possible, all_clear, correction,
    or None (DESIGN.md section 3).

    Members hear only about confirmed incidents; responders nearby hear of one being
    verified ("possible"); whoever heard of an incident hears how it ended, and nobody
    else does. ``members_were_alerted`` means anyone got a confirmed or possible alert.
    """
    if new == State.CONFIRMED:
        return "confirmed"
    if new == State.VERIFYING:
        return "possible"
    if not members_were_alerted:
        return None
    if new == State.RESOLVED:
        return "all_clear"
    if new in (State.UNFOUNDED, State.EXPIRED):
        return "correction"
    return None
