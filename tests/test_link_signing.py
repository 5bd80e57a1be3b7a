"""Alert links signed for a whole fan-out with one derived key (tocsin.lib.links.PresignedAt)
are exactly the links signed one by one, and open the alert page the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import signing
from django.utils import timezone

from tocsin.lib.links import (
    LINK_SALT,
    VERIFY_SALT,
    PresignedAt,
    SignedAt,
    read_alert_link_token,
    read_verify_link_token,
)

AT = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
IDS = [(1, 2), (123456, 789), (1111111111111111111, 1111111111111111111), (0, 0)]


@pytest.mark.parametrize("salt", [LINK_SALT, VERIFY_SALT])
@pytest.mark.parametrize(("member_id", "incident_id"), IDS)
def test_presigned_tokens_are_the_tokens_signed_one_by_one(
    salt: str, member_id: int, incident_id: int
) -> None:
    one_by_one = SignedAt(AT, salt=salt).sign_object([member_id, incident_id], compress=True)
    assert PresignedAt(AT, salt=salt).sign_ids(member_id, incident_id) == one_by_one


def test_presigned_tokens_match_for_the_most_compressible_ids_of_every_length() -> None:
    signer, presigner = SignedAt(AT, salt=LINK_SALT), PresignedAt(AT, salt=LINK_SALT)
    for digit in "123456789":
        for left in range(1, 20):
            for right in range(1, 20):
                ids = [int(digit * left), int(digit * right)]
                assert presigner.sign_ids(*ids) == signer.sign_object(ids, compress=True)


def test_a_presigned_token_opens_like_any_other() -> None:
    now = timezone.now()
    assert read_alert_link_token(PresignedAt(now, salt=LINK_SALT).sign_ids(7, 9)) == (7, 9)
    assert read_verify_link_token(PresignedAt(now, salt=VERIFY_SALT).sign_ids(7, 9)) == (7, 9)


def test_a_presigned_token_for_another_purpose_does_not_open() -> None:
    token = PresignedAt(timezone.now(), salt=VERIFY_SALT).sign_ids(7, 9)
    with pytest.raises(signing.BadSignature):
        read_alert_link_token(token)
