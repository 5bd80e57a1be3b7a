"""Phone numbers as people write them, and as Tocsin keeps them: E.164 ("+12135550142").

A number written without a country code is read as a number of the operator's region
(settings.PHONE_REGION, from TOCSIN_PHONE_REGION: "US" unless set), so members and
dispatchers can type "(213) 555-0142" or "213 555 0142"; "+52 55 1234 5678" is read as
written. Parsing and the rules of each country's numbering plan are Google's
libphonenumber's, through the ``phonenumbers`` package.

``parse`` is strict, for a number a person types (refused with a reason when no phone can
have it); ``e164`` is lenient, for a sender's address a provider hands over (None when it
does not read as a phone number: a Signal account may be known only by its UUID).
"""

from __future__ import annotations

import unicodedata

import phonenumbers
from django.conf import settings
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult

# Why a number was refused (PhoneError.code).
LETTERS = "letters"
NOT_A_NUMBER = "not_a_number"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
BAD_COUNTRY = "bad_country"
INVALID = "invalid"

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: BAD_COUNTRY,
    NumberParseException.NOT_A_NUMBER: NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: TOO_SHORT,
    NumberParseException.TOO_LONG: TOO_LONG,
}
_LENGTH_ERRORS = {
    # Seven digits in the US: a local number without its area code.
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: TOO_SHORT,
    ValidationResult.INVALID_COUNTRY_CODE: BAD_COUNTRY,
    ValidationResult.TOO_SHORT: TOO_SHORT,
    ValidationResult.TOO_LONG: TOO_LONG,
    ValidationResult.INVALID_LENGTH: INVALID,
}


class PhoneError(ValueError):
    """A number no phone can have; ``code`` says why (one of the constants above)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def parse(typed: str, *, region: str | None = None) -> str:
    """Return the E.164 form of a number a person typed; raise PhoneError if it has
    letters, is too short or too long, or no phone can have it (an area code or a
    country code that does not exist)."""
    number = _read(typed, region)
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason != ValidationResult.IS_POSSIBLE:
        raise PhoneError(_LENGTH_ERRORS.get(reason, INVALID))
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(INVALID)
    return _e164(number)


def e164(address: str, *, region: str | None = None) -> str | None:
    """Return the E.164 form of a sender's address if it reads as a phone number of a
    possible length, else None."""
    try:
        number = _read(address, region)
    except PhoneError:
        return None
    return _e164(number) if phonenumbers.is_possible_number(number) else None


def display(number: str, *, region: str | None = None) -> str:
    """Return a stored E.164 number as people of the operator's region write it: a number
    of the region in its national form ("(213) 555-0142"), another country's with its
    country code ("+52 55 1234 5678")."""
    try:
        parsed = phonenumbers.parse(number, None)
    except NumberParseException:
        return number
    if phonenumbers.region_code_for_number(parsed) == (region or settings.PHONE_REGION):
        style = phonenumbers.PhoneNumberFormat.NATIONAL
    else:
        style = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(parsed, style)


def example(*, region: str | None = None) -> str:
    """Return an example number of the region as people there write it: "(201) 555-0123"."""
    number = phonenumbers.example_number(region or settings.PHONE_REGION)
    if number is None:
        return "+1 213 555 0142"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _read(text: str, region: str | None) -> PhoneNumber:
    text = unicodedata.normalize("NFKC", text).strip()
    # libphonenumber reads letters as a keypad's ("1-800-FLOWERS"), and a Signal UUID as
    # the digits in it: nobody gives their own number that way.
    if any(ch.isalpha() for ch in text):
        raise PhoneError(LETTERS)
    try:
        number = phonenumbers.parse(text, region or settings.PHONE_REGION)
    except NumberParseException as e:
        raise PhoneError(_PARSE_ERRORS.get(e.error_type, NOT_A_NUMBER)) from None
    return _without_mexican_mobile_one(number)


def _without_mexican_mobile_one(number: PhoneNumber) -> PhoneNumber:
    """Drop the "1" Mexican mobile numbers carried after +52 until 2019 ("+52 1 55 1234
    5678"): many people still write it, and no network uses it any more."""
    national = str(number.national_number)
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        number = PhoneNumber(country_code=52, national_number=int(national[1:]))
    return number


def _e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
