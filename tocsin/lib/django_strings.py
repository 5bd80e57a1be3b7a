"""Django's own strings that its Spanish catalog does not translate yet.

Written here so ``makemessages`` puts them in Tocsin's catalog (locale/), which Django reads
before its own (LOCALE_PATHS come first), so the translation there wins. Nothing imports
this module: it is read by ``makemessages`` only.
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

STRINGS = (
    # Django 6.1's empty first choice of a select (django.db.models.fields
    # BLANK_CHOICE_LABEL): the "kind" and "place" of a mobilization, for one.
    gettext_noop("- Select an option -"),
)
