"""The demo inbox: where messages go when Tocsin runs as a demo with no real channel."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DemoMessage(models.Model):
    # A demo member's inbox, or (no member) the inbox of everyone else: an emergency
    # contact, a stranger who signed up for a mobilization, a reporter answered by email.
    # Never their address: no contact channel is stored in plaintext, in the demo either
    # (a stranger may type a real one).
    member = models.ForeignKey(
        "members.Member", models.CASCADE, related_name="+", null=True, blank=True
    )
    channel = models.CharField(max_length=20)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
