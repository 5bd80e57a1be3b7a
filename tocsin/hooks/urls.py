"""Providers calling back: each channel's webhook under ``hooks/<kind>/`` (signatures
are checked by the hook itself). The hooks are found by kind (tocsin.hooks.channels)."""

from __future__ import annotations

from django.urls import include, path

from tocsin.hooks import channels

urlpatterns = [path(f"{kind}/", include(module)) for kind, module in channels.webhooks().items()]
