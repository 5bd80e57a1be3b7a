"""Solve the report form's proof of work (tocsin.intake.pow) as a browser would."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from django.test import Client


def solve(challenge: dict[str, Any]) -> str:
    """Return the base64 ALTCHA payload that solves ``challenge``."""
    salt = challenge["salt"]
    for number in range(int(challenge["maxnumber"]) + 1):
        if hashlib.sha256(f"{salt}{number}".encode()).hexdigest() == challenge["challenge"]:
            payload = {
                "algorithm": challenge["algorithm"],
                "challenge": challenge["challenge"],
                "number": number,
                "salt": salt,
                "signature": challenge["signature"],
            }
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise AssertionError("the challenge has no solution")


def solution(client: Client | None = None) -> str:
    """Fetch a challenge from the report page's endpoint and return its solution."""
    response = (client or Client()).get("/report/challenge.json")
    assert response.status_code == 200, response.content[:300]
    return solve(response.json())
