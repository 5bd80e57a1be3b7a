"""Trust: how much a committee can lean on a member's word, from who vouched for them.

The decision is pure (``score_link`` and ``score_tree`` take plain values); ``trust`` and
``committee_trust`` only read a committee's memberships and hand them over.

Today trust comes from vouching only. Reports are anonymous, so a member's reports are not
linked to them, and no model links a member to verification outcomes yet. When verifier
answers exist (the verification part of the "Trust" issue), pass their counts as
``accuracy``: the score then blends vouching with past accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tocsin.committees.models import Committee, Role
from tocsin.members.models import Member

ORGANIZER_SCORE = 100
# A member with no voucher on record who is not an organizer: founders made by command are
# organizers, so this is someone whose voucher deleted their account.
UNVOUCHED_SCORE = 40
# The voucher was removed from the committee: whoever they brought in is suspect.
REVOKED_VOUCHER_SCORE = 0
# Each hop away from the voucher keeps this share of the voucher's trust.
DECAY = 0.9
# Each hop from the nearest organizer lowers the ceiling; a chain that reaches no organizer
# gets the lowest ceiling.
DEPTH_STEP = 12
CEILING_FLOOR = 30
# With accuracy counts, the score is this share vouching and the rest accuracy.
VOUCHING_WEIGHT = 0.6


@dataclass(frozen=True)
class Accuracy:
    """Verifier answers about a member: how many they gave that held, and that did not."""

    confirmed: int = 0
    refuted: int = 0


@dataclass(frozen=True)
class Trust:
    """A member's trust, 0-100, with the parts it is made of."""

    score: int
    vouching: int
    # Hops from the nearest organizer up the vouching chain (0 for an organizer); None when
    # the chain reaches no organizer (a removed voucher, or no voucher on record).
    depth: int | None
    # The member's voucher is still in the committee (True for organizers and people with
    # no voucher on record: there is nobody to lose standing).
    voucher_in_good_standing: bool
    voucher_score: int | None
    # None until verifier answers are linked to members.
    accuracy: int | None = None


def ceiling(depth: int | None) -> int:
    """Return the highest vouching score a member ``depth`` hops from an organizer can get."""
    if depth is None:
        return CEILING_FLOOR
    return max(CEILING_FLOOR, ORGANIZER_SCORE - DEPTH_STEP * depth)


def accuracy_score(accuracy: Accuracy) -> int:
    """Return 0-100 from verifier answers, starting at 50 with no answers (Laplace)."""
    total = accuracy.confirmed + accuracy.refuted
    return round(100 * (accuracy.confirmed + 1) / (total + 2))


def score_link(
    *,
    is_organizer: bool,
    has_voucher: bool,
    voucher_in_good_standing: bool,
    voucher_score: int | None,
    depth: int | None,
    accuracy: Accuracy | None = None,
) -> Trust:
    """Return the trust of one member from their link to their voucher.

    ``voucher_score`` and ``depth`` describe the voucher's side: the voucher's own score
    and this member's hops from the nearest organizer (None when no organizer is reached).
    Lower voucher scores, deeper chains and a removed voucher never raise the result.
    """
    if is_organizer:
        vouching, depth, standing, voucher_score = ORGANIZER_SCORE, 0, True, None
    elif not has_voucher:
        vouching, depth, standing, voucher_score = UNVOUCHED_SCORE, None, True, None
    elif not voucher_in_good_standing or voucher_score is None:
        vouching, depth, standing, voucher_score = REVOKED_VOUCHER_SCORE, None, False, None
    else:
        vouching = min(int(voucher_score * DECAY), ceiling(depth))
        standing = True
    acc = None
    score = vouching
    if accuracy is not None and accuracy.confirmed + accuracy.refuted > 0:
        acc = accuracy_score(accuracy)
        score = round(VOUCHING_WEIGHT * vouching + (1 - VOUCHING_WEIGHT) * acc)
    return Trust(
        score=max(0, min(100, score)),
        vouching=vouching,
        depth=depth,
        voucher_in_good_standing=standing,
        voucher_score=voucher_score,
        accuracy=acc,
    )


@dataclass(frozen=True)
class Node:
    """A committee member as the trust score sees them."""

    is_organizer: bool
    # The member id of their voucher; a voucher missing from the committee was removed.
    vouched_by: int | None


def score_tree(
    nodes: Mapping[int, Node], *, accuracy: Mapping[int, Accuracy] | None = None
) -> dict[int, Trust]:
    """Return the trust of every member of a committee, keyed by member id.

    ``nodes`` holds the committee's current members; a ``vouched_by`` that is not among
    them is a voucher who was removed. A vouching loop (someone removed who came back
    through a person they had vouched for) counts as a voucher not in good standing.
    """
    accuracy = accuracy or {}
    done: dict[int, Trust] = {}

    def visit(member_id: int, path: set[int]) -> Trust:
        if member_id in done:
            return done[member_id]
        node = nodes[member_id]
        voucher = node.vouched_by
        standing, voucher_trust = False, None
        # An organizer's trust does not hang on their voucher: no need to follow it.
        follow = not node.is_organizer and voucher in nodes
        if follow and voucher is not None and voucher not in path:
            voucher_trust = visit(voucher, path | {member_id})
            standing = True
        result = score_link(
            is_organizer=node.is_organizer,
            has_voucher=voucher is not None,
            voucher_in_good_standing=standing,
            voucher_score=voucher_trust.score if voucher_trust else None,
            depth=(
                voucher_trust.depth + 1
                if voucher_trust is not None and voucher_trust.depth is not None
                else None
            ),
            accuracy=accuracy.get(member_id),
        )
        done[member_id] = result
        return result

    for member_id in nodes:
        visit(member_id, set())
    return done


def committee_nodes(committee: Committee) -> dict[int, Node]:
    """Return the committee's current members as trust nodes, keyed by member id."""
    rows = committee.memberships.values_list("member_id", "role", "vouched_by_id")
    return {m: Node(is_organizer=role == Role.ORGANIZER, vouched_by=v) for m, role, v in rows}


def committee_trust(committee: Committee) -> dict[int, Trust]:
    """Return the trust of every current member of ``committee``, keyed by member id."""
    return score_tree(committee_nodes(committee))


def trust(member: Member, committee: Committee, *, accuracy: Accuracy | None = None) -> Trust:
    """Return ``member``'s trust in ``committee``; zero if they are not a member."""
    nodes = committee_nodes(committee)
    if member.pk not in nodes:
        return Trust(
            score=0, vouching=0, depth=None, voucher_in_good_standing=False, voucher_score=None
        )
    extra = {member.pk: accuracy} if accuracy is not None else None
    return score_tree(nodes, accuracy=extra)[member.pk]
