"""Test configuration shared by the whole suite.

Tests run against a throwaway data folder, so keys and the SQLite file never touch a
real install. TOCSIN_REQUIRE_SERVICES=1 (set by CI) turns "skip: service missing" into
a failure, so nothing silently skips in CI.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TOCSIN_DATA_DIR", tempfile.mkdtemp(prefix="tocsin-test-"))
os.environ.setdefault("TOCSIN_SITE_URL", "http://testserver")
os.environ["TOCSIN_ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
