"""Webhook routes (filled in by the channel module)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
