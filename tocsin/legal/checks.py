"""Tell the operator, once at start, when legal cases cannot be opened: without the legal
team's public key a panic press alerts the member's contacts but opens no case."""

from __future__ import annotations

from typing import Any

from django.core import checks

from tocsin.legal import keys


@checks.register()
def check_legal_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if keys.can_seal():
        return []
    return [
        checks.Info(
            "Legal cases are off: there is no legal team's key. A panic press alerts the "
            "member's contacts but opens no case, and the desk cannot open one.",
            hint="Run `tocsin manage legal_keys` (docs/legal.md), or set TOCSIN_LEGAL_PUBLIC_KEY.",
            id="legal.I001",
        )
    ]
