"""Where a ``next`` parameter may send a person: only to a path on this site."""

from __future__ import annotations

from django.utils.http import url_has_allowed_host_and_scheme


def local_path(target: str | None, *, default: str) -> str:
    """Return ``target`` if it is a path on this site, else ``default``.

    A path only: never another host ("//evil.example", "https://evil.example", and
    "/\\evil.example", which browsers read as "//"), never another scheme ("javascript:"),
    and never a bare word, which ``redirect()`` would try as a URL name.
    """
    if not target or not target.startswith("/"):
        return default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=None):
        return default
    return target
