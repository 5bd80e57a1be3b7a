"""Tocsin settings: every value comes from a ``TOCSIN_*`` environment variable.

Parsing is strict: a malformed value stops the process at start with a message that
names the variable. Defaults run the embedded setup (SQLite in ``TOCSIN_DATA_DIR``).
Every variable is documented in ``deploy/tocsin.env.example``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from tocsin.lib import datadir

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def envbool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no, not {raw!r}")


def envint(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be <= {maximum}, not {value}")
    return value


def envstr(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def envregion(name: str, default: str) -> str:
    """Return a two-letter region code libphonenumber knows ("US", "MX")."""
    import phonenumbers

    value = envstr(name, default).upper()
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(
            f"{name} must be a two-letter country code, like US or MX, not {value!r}"
        )
    return value


def envsecret(name: str) -> str:
    """Return a secret from ``NAME`` or from the file named by ``NAME_FILE``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {e}") from None
    return os.environ.get(name, "").strip()


DEBUG = envbool("TOCSIN_DEBUG", False)
DEMO = envbool("TOCSIN_DEMO", False)
DATA_DIR = Path(envstr("TOCSIN_DATA_DIR") or BASE_DIR / "data").resolve()
# Readable by its owner alone: made 0700, and an older install's files tightened to 0600.
datadir.secure(DATA_DIR)
SITE_URL = envstr("TOCSIN_SITE_URL", "http://127.0.0.1:8000").rstrip("/")
if not SITE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured("TOCSIN_SITE_URL must start with http:// or https://")

SECRET_KEY = envsecret("TOCSIN_SECRET_KEY")
if not SECRET_KEY:
    # The embedded default keeps a generated key next to the database, so a laptop
    # install needs no configuration and restarts keep sessions and signed links valid.
    from tocsin.lib.secrets import data_dir_secret

    SECRET_KEY = data_dir_secret(DATA_DIR, "secret_key")

ALLOWED_HOSTS = [h for h in envstr("TOCSIN_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [SITE_URL]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "leaflet",
    "tocsin.committees",
    "tocsin.places",
    "tocsin.members",
    "tocsin.intake",
    "tocsin.incidents",
    "tocsin.alerts",
    "tocsin.mobilize",
    "tocsin.legal",
    "tocsin.family",
    "tocsin.public",
    "tocsin.digest",
    "tocsin.transports",
    "tocsin.demo",
    "tocsin.ops",
]

MIDDLEWARE = [
    # Before PrivacyMiddleware: keeps a keyed hash of the network, drops nothing, stores nothing.
    "tocsin.lib.ratelimit.SourceMiddleware",
    "tocsin.lib.middleware.PrivacyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # WhiteNoise, serving the compressed static files `tocsin serve` collects at start.
    "tocsin.lib.staticfiles.CollectedFirstMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "tocsin.lib.csrf.CsrfMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "tocsin.members.middleware.SessionGuardMiddleware",
    "tocsin.members.middleware.MemberLanguageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tocsin.urls"
ASGI_APPLICATION = "tocsin.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tocsin.committees.context.tocsin",
                "tocsin.public.basemap.context",
            ],
        },
    }
]

DATABASE_URL = envstr("TOCSIN_DATABASE_URL")
if DATABASE_URL:
    if not DATABASE_URL.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ImproperlyConfigured("TOCSIN_DATABASE_URL must be a postgres:// or sqlite:// URL")
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # A connection per request, closed when it ends (Django's default), not one kept
        # per thread: under ASGI every request runs in a thread of its own, and a connection
        # kept open for that thread (CONN_MAX_AGE) outlived it, until PostgreSQL refused new
        # clients (tests/test_db_connections.py). Worker threads close theirs between steps.
        # (psycopg's pool was tried: a thread that ended holding a pooled connection never
        # gave it back, and the pool ran dry.)
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        # An unreachable server must not hang a worker: give up connecting after 10 s, and
        # find a silent connection dead after about a minute (TCP keepalives), not hours.
        # Options in the URL's query string win.
        _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
        for _key, _value in (
            ("connect_timeout", 10),
            ("keepalives_idle", 30),
            ("keepalives_interval", 10),
            ("keepalives_count", 3),
        ):
            _pg_options.setdefault(_key, _value)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "tocsin.sqlite3"),
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, keeping closed connections open for the next request
    # (tocsin.lib.sqlite.base: under ASGI each request would open the file anew).
    DATABASES["default"]["ENGINE"] = "tocsin.lib.sqlite"
    # WAL lets the worker write while pages read; IMMEDIATE transactions take the write
    # lock up front, so two writers queue on the busy timeout instead of deadlocking.
    # secure_delete zeroes what a delete frees: without it, purged rows stay readable in
    # the file's free pages for anyone who copies it (tests/test_seized_database.py).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;"
        ),
    }
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        # Made here 0600 before SQLite makes it 0644; its -wal and -shm files follow.
        datadir.private_file(Path(DATABASES["default"]["NAME"]))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

REDIS_URL = envstr("TOCSIN_REDIS_URL")

# Live pages (tocsin.lib.sse): open streams one app process holds, in all and from one
# network (a workplace's Wi-Fi, a carrier's shared address); past either a stream gets 503
# and the page says to refresh in a minute.
LIVE_MAX_VIEWERS = envint("TOCSIN_LIVE_MAX_VIEWERS", 20000, minimum=1)
LIVE_MAX_PER_NETWORK = envint("TOCSIN_LIVE_MAX_PER_NETWORK", 2000, minimum=1)
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("TOCSIN_REDIS_URL must be a redis:// URL")
CACHES: dict[str, dict[str, Any]]
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # The intake guards (rate-limit counters, burst markers, used proof-of-work solutions)
    # live in the cache: the default 300 entries would evict them under a flood and let
    # it through. A million small entries is a few hundred MB at most.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 1_000_000},
        }
    }

AUTH_PASSWORD_VALIDATORS: list[dict[str, str]] = []
LOGIN_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
# No page's address ever leaves in a header, not even to Tocsin itself. Form posts then
# carry "Origin: null"; tocsin.lib.csrf checks Sec-Fetch-Site instead.
SECURE_REFERRER_POLICY = "no-referrer"
# security.W003 looks for Django's own class by name; ours subclasses it (tests/test_csrf.py
# checks it is installed).
SILENCED_SYSTEM_CHECKS = ["security.W003"]
if SECURE:
    # __Host- cookies can only be set over https by this exact host: nobody on the network
    # or on a sibling subdomain can plant a session or a CSRF token.
    SESSION_COOKIE_NAME = "__Host-tocsin-session"
    CSRF_COOKIE_NAME = "__Host-tocsin-csrf"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if SECURE:
    # https:// means TLS ends at a proxy in front of Tocsin, which must set
    # X-Forwarded-Proto (and strip any a client sent). Plain http is redirected; the
    # embedded http://127.0.0.1 default never is. `manage.py check --deploy` is clean
    # (tests/test_headers.py).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # Load balancers and Prometheus ask over plain http on the machine's own network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = 31536000
    # includeSubDomains covers the names under Tocsin's host name (*.tocsin.example.org;
    # every name of example.org if Tocsin runs on the bare domain): none of them should
    # serve plain http to the people who use Tocsin.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # No preload: once a domain is on the browsers' preload list it is https-only for
    # months, and that is the domain owner's decision, made at hstspreload.org, not ours.
    SILENCED_SYSTEM_CHECKS += ["security.W021"]

# Street maps. No third-party requests from any page: the streets under Tocsin's maps come
# from one local map file Tocsin serves itself (TOCSIN_MAP_FILE, a PMTiles archive the
# operator downloads once for their metro: docs/operations.md, "Street maps"), or from a
# tile server the operator names (TOCSIN_TILE_URL). Neither: maps show committee areas
# with no streets, and every page still works.
MAP_FILE: Path | None = None
if envstr("TOCSIN_MAP_FILE"):
    from tocsin.geo.mapfile import MapFile, MapFileError

    MAP_FILE = Path(envstr("TOCSIN_MAP_FILE")).expanduser().resolve()
    try:
        # Opened once here so a missing, truncated or foreign file stops the start.
        MapFile(MAP_FILE).close()
    except MapFileError as e:
        raise ImproperlyConfigured(f"TOCSIN_MAP_FILE: {e}") from None
TILE_URL = envstr("TOCSIN_TILE_URL")
if TILE_URL and not TILE_URL.startswith(("https://", "http://", "/")):
    raise ImproperlyConfigured(
        "TOCSIN_TILE_URL must be a URL template like https://tiles.example/{z}/{x}/{y}.png"
    )
if TILE_URL and MAP_FILE:
    raise ImproperlyConfigured(
        "Set TOCSIN_MAP_FILE (Tocsin serves the tiles) or TOCSIN_TILE_URL (your tile server), "
        "not both"
    )
# A tile server's .mvt/.pbf tiles are vector tiles, drawn in the page (fetched, so the
# policy lets them in as connect-src); anything else is an image per tile (img-src).
TILE_KIND = "vector" if TILE_URL.split("?")[0].endswith((".mvt", ".pbf")) else "raster"
# Text credited on every map with streets (the data's license asks for it; OpenStreetMap's
# ODbL does). Empty: the map file's own attribution, else "© OpenStreetMap contributors".
MAP_ATTRIBUTION = envstr("TOCSIN_MAP_ATTRIBUTION")
_tile_origin = []
if TILE_URL.startswith("http"):
    from urllib.parse import urlsplit

    parts = urlsplit(TILE_URL.replace("{s}", "a"))
    _tile_origin = [f"{parts.scheme}://{parts.netloc}"]
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *(_tile_origin if TILE_KIND == "raster" else [])],
    "connect-src": [CSP.SELF, *(_tile_origin if TILE_KIND == "vector" else [])],
    "worker-src": [CSP.SELF],
    "manifest-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LANGUAGE_CODE = "en"
# Each language is named in itself, so anyone can find theirs.
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = envstr("TOCSIN_TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
STATICFILES_DIRS: list[Path | tuple[str, Path]] = [BASE_DIR / "static"]
# protomaps-leaflet draws vector map tiles in the page. It comes from npm (`npm ci` in this
# folder, pinned in package-lock.json), never from a CDN and never copied into the
# repository; without it, a vector map file shows no streets (`manage.py check` says so).
VECTOR_RENDERER_DIR = BASE_DIR / "node_modules" / "protomaps-leaflet" / "dist"
if (VECTOR_RENDERER_DIR / "protomaps-leaflet.js").is_file():
    STATICFILES_DIRS.append(("protomaps-leaflet", VECTOR_RENDERER_DIR))
WHITENOISE_USE_FINDERS = True
# collectstatic (run by `tocsin serve` and `tocsin demo`, tocsin/lib/staticfiles.py) writes a
# gzip copy beside each text file: the map library travels at under a third of its size.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_AUTOREFRESH = DEBUG

# Geography: member areas, committee areas and alert areas are H3 cells.
AREA_RESOLUTION = envint("TOCSIN_AREA_RESOLUTION", 8, minimum=6, maximum=10)
ALERT_RADIUS_M = envint("TOCSIN_ALERT_RADIUS_M", 1500, minimum=100, maximum=20000)
MAP_CENTER = (34.05, -118.25)

# What the public sees of confirmed incidents (tocsin/lib/exposure.py): an H3 cell this
# coarse (7: about 1.2 km across; never finer than a member's block, 9), only this many
# minutes after confirmation, the time rounded down to this many minutes.
PUBLIC_RESOLUTION = envint("TOCSIN_PUBLIC_RESOLUTION", 7, minimum=5, maximum=9)
PUBLIC_DELAY_MINUTES = envint("TOCSIN_PUBLIC_DELAY_MINUTES", 30, minimum=0, maximum=10080)
PUBLIC_TIME_STEP_MINUTES = envint("TOCSIN_PUBLIC_TIME_STEP_MINUTES", 15, minimum=1, maximum=1440)

# Address search on the dispatcher's hotline form: a Nominatim-compatible geocoder the
# operator chose (a self-hosted Nominatim). Off when empty: dispatchers click the map.
GEOCODER_URL = envstr("TOCSIN_GEOCODER_URL")
if GEOCODER_URL and not GEOCODER_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("TOCSIN_GEOCODER_URL must be an http(s):// URL")
# Two-letter country codes the search keeps to ("us,mx"); empty for any.
GEOCODER_COUNTRIES = envstr("TOCSIN_GEOCODER_COUNTRIES")

# Outbound channels. Each is off until configured.
SMTP_HOST = envstr("TOCSIN_SMTP_HOST")
# Django's default mailer (MAILERS, which replaces the EMAIL_* settings in Django 6.1):
# the operator's SMTP server, or one on this machine.
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": SMTP_HOST or "localhost",
            "port": envint("TOCSIN_SMTP_PORT", 25, minimum=1, maximum=65535),
            "username": envstr("TOCSIN_SMTP_USER"),
            "password": envsecret("TOCSIN_SMTP_PASSWORD"),
            "use_tls": envbool("TOCSIN_SMTP_STARTTLS", False),
            # Seconds for a connection and each reply.
            "timeout": 20,
        },
    }
}
DEFAULT_FROM_EMAIL = envstr("TOCSIN_EMAIL_FROM", "Tocsin <tocsin@localhost>")

VAPID_PRIVATE_KEY = envsecret("TOCSIN_VAPID_PRIVATE_KEY")
VAPID_SUBJECT = envstr("TOCSIN_VAPID_SUBJECT", "mailto:operator@localhost")
WEBPUSH_ENABLED = envbool("TOCSIN_WEBPUSH", True)


def envhosts(name: str, default: str) -> tuple[str, ...]:
    """Return a comma-separated list of host names, ``*.domain`` entries and IP
    addresses (tocsin.lib.egress.parse_hosts)."""
    from tocsin.lib.egress import parse_hosts

    raw = os.environ.get(name)
    try:
        return parse_hosts(default if raw is None or not raw.strip() else raw)
    except ValueError as e:
        raise ImproperlyConfigured(f"{name}: {e}") from None


# The push services members' endpoints may be on: those of Chrome and Android (FCM),
# Firefox (Mozilla autopush), Safari (Apple) and Edge (Windows Push Notification
# Services). A member's subscription anywhere else is refused, and the worker never
# connects to one stored before. A name must resolve to public addresses only; an entry
# that is an IP address or "localhost" is a machine the operator trusts (a relay of
# their own, the push peer of the tests), reached on whatever address it has.
PUSH_HOSTS_DEFAULT = (
    "fcm.googleapis.com,android.googleapis.com,"
    "updates.push.services.mozilla.com,*.push.services.mozilla.com,"
    "web.push.apple.com,*.push.apple.com,*.notify.windows.com"
)
PUSH_HOSTS = envhosts("TOCSIN_PUSH_HOSTS", PUSH_HOSTS_DEFAULT)

# Vault: contact endpoints are sealed to this key pair. Web processes need only the
# public key; delivery workers need the private key. With neither set (the embedded
# setup), the keys live in the data folder's keyring, wrapped with a passphrase
# (tocsin/vault/keys.py, docs/operations.md "Keys and secrets").
VAULT_PUBLIC_KEY = envsecret("TOCSIN_VAULT_PUBLIC_KEY")
VAULT_PRIVATE_KEY = envsecret("TOCSIN_VAULT_PRIVATE_KEY")
BLIND_INDEX_KEY = envsecret("TOCSIN_BLIND_INDEX_KEY")
# The key that seals members' TOTP seeds (web processes need it). Unset: the keyring's.
TOTP_KEY = envsecret("TOCSIN_TOTP_KEY")
# Legal cases are sealed to the legal team's own key pair, never the delivery key
# (tocsin/legal/keys.py): every process needs the public key to open a case; only the
# processes the legal team reads cases in hold the private key (in the env or in a file
# outside the data folder). Unset public key: the data folder's legal_public.key, written
# by `tocsin manage legal_keys`.
LEGAL_PUBLIC_KEY = envsecret("TOCSIN_LEGAL_PUBLIC_KEY")
LEGAL_PRIVATE_KEY = envsecret("TOCSIN_LEGAL_PRIVATE_KEY")
# Or the private key wrapped in the data folder's legal_keyring.json, opened with the
# passphrase in this file (never in the data folder).
LEGAL_PASSPHRASE_FILE = envstr("TOCSIN_LEGAL_PASSPHRASE_FILE")
_legal_key_file = os.environ.get("TOCSIN_LEGAL_PRIVATE_KEY_FILE", "") or LEGAL_PASSPHRASE_FILE
if _legal_key_file and Path(_legal_key_file).resolve().is_relative_to(DATA_DIR):
    raise ImproperlyConfigured(
        "TOCSIN_LEGAL_PRIVATE_KEY_FILE and TOCSIN_LEGAL_PASSPHRASE_FILE must not be in "
        "TOCSIN_DATA_DIR: a copy of the data folder would open every legal case"
    )
# A file whose first line is the keyring's passphrase, for a service manager (a terminal
# is asked instead). Read when the keys are unlocked, never kept in the settings.
VAULT_PASSPHRASE_FILE = envstr("TOCSIN_VAULT_PASSPHRASE_FILE")
if VAULT_PASSPHRASE_FILE:
    _passphrase_path = Path(VAULT_PASSPHRASE_FILE).resolve()
    if not os.access(_passphrase_path, os.R_OK):
        raise ImproperlyConfigured(f"TOCSIN_VAULT_PASSPHRASE_FILE: cannot read {_passphrase_path}")
    if _passphrase_path.is_relative_to(DATA_DIR):
        raise ImproperlyConfigured(
            "TOCSIN_VAULT_PASSPHRASE_FILE must not be in TOCSIN_DATA_DIR: a copy of the data "
            "folder would carry the passphrase with the keys it protects"
        )
# Argon2id cost of the passphrase (interactive, moderate or sensitive): the demo's is
# moderate, since its passphrase is public anyway.
VAULT_KDF = envstr("TOCSIN_VAULT_KDF") or ("moderate" if DEMO else "sensitive")
if VAULT_KDF not in ("interactive", "moderate", "sensitive"):
    raise ImproperlyConfigured(
        f"TOCSIN_VAULT_KDF must be interactive, moderate or sensitive, not {VAULT_KDF!r}"
    )

# Delivery engine.
DELIVERY_BATCH = envint("TOCSIN_DELIVERY_BATCH", 500, minimum=1, maximum=10000)
DELIVERY_LEASE_SECONDS = envint("TOCSIN_DELIVERY_LEASE_SECONDS", 60, minimum=5, maximum=3600)
DELIVERY_MAX_ATTEMPTS = envint("TOCSIN_DELIVERY_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
# Per channel and per worker process: how many sends run at once (0: one after another
# in the worker's own thread), and at most how many messages a second (0: no limit).
# A provider's 429 with Retry-After pauses the whole channel for that long.
DELIVERY_CONCURRENCY = {
    "webpush": envint("TOCSIN_WEBPUSH_CONCURRENCY", 16, minimum=0, maximum=256),
    "email": envint("TOCSIN_EMAIL_CONCURRENCY", 4, minimum=0, maximum=64),
    "sms": envint("TOCSIN_SMS_CONCURRENCY", 4, minimum=0, maximum=64),
    "signal": envint("TOCSIN_SIGNAL_CONCURRENCY", 2, minimum=0, maximum=64),
    "telegram": envint("TOCSIN_TELEGRAM_CONCURRENCY", 4, minimum=0, maximum=64),
}
DELIVERY_RATE = {
    "webpush": envint("TOCSIN_WEBPUSH_RATE", 0, minimum=0, maximum=100000),
    "email": envint("TOCSIN_EMAIL_RATE", 0, minimum=0, maximum=100000),
    # A long-code SMS number sends about one message a second; a short code or a
    # messaging service more. Per worker process.
    "sms": envint("TOCSIN_SMS_RATE", 1, minimum=0, maximum=10000),
    "signal": envint("TOCSIN_SIGNAL_RATE", 1, minimum=0, maximum=10000),
    # Telegram allows about 30 messages a second per bot.
    "telegram": envint("TOCSIN_TELEGRAM_RATE", 25, minimum=0, maximum=10000),
}

# A phone number written without + and a country code is a number of this country: members
# and dispatchers type "(213) 555-0142"; Tocsin keeps "+12135550142" (tocsin.lib.phones).
PHONE_REGION = envregion("TOCSIN_PHONE_REGION", "US")

# --- Channels (each off until configured; `manage.py check` says what is missing) ---
# SMS through a Twilio-compatible Messages API.
TWILIO_ACCOUNT_SID = envstr("TOCSIN_TWILIO_ACCOUNT_SID")
TWILIO_AUTH_TOKEN = envsecret("TOCSIN_TWILIO_AUTH_TOKEN")
TWILIO_FROM = envstr("TOCSIN_TWILIO_FROM")  # the sending number, or
TWILIO_MESSAGING_SERVICE_SID = envstr("TOCSIN_TWILIO_MESSAGING_SERVICE_SID")
TWILIO_API_URL = envstr("TOCSIN_TWILIO_API_URL", "https://api.twilio.com")
# SMS through an HTTP gateway a group runs (an Android SMS gateway app): a URL and a
# body template with {to} and {text}; an optional bearer token.
SMS_GATEWAY_URL = envstr("TOCSIN_SMS_GATEWAY_URL")
SMS_GATEWAY_BODY = envstr("TOCSIN_SMS_GATEWAY_BODY", '{"to": {to}, "message": {text}}')
SMS_GATEWAY_TOKEN = envsecret("TOCSIN_SMS_GATEWAY_TOKEN")
# Signal through a signal-cli REST API server the operator runs.
SIGNAL_API_URL = envstr("TOCSIN_SIGNAL_API_URL")
SIGNAL_NUMBER = envstr("TOCSIN_SIGNAL_NUMBER")
# Telegram bot.
TELEGRAM_BOT_TOKEN = envsecret("TOCSIN_TELEGRAM_BOT_TOKEN")
TELEGRAM_WEBHOOK_SECRET = envsecret("TOCSIN_TELEGRAM_WEBHOOK_SECRET")
TELEGRAM_API_URL = envstr("TOCSIN_TELEGRAM_API_URL", "https://api.telegram.org")
# The bot's @username without the @, for the "Link Telegram" button members tap.
TELEGRAM_BOT_USERNAME = envstr("TOCSIN_TELEGRAM_BOT_USERNAME").lstrip("@")
# A public Telegram channel (@name, or its -100… id) the bot posts newly public incidents
# to, as the public map shows them (tocsin.public.broadcast). Empty: off.
TELEGRAM_PUBLIC_CHANNEL = envstr("TOCSIN_TELEGRAM_PUBLIC_CHANNEL")
if TELEGRAM_PUBLIC_CHANNEL and not re.fullmatch(
    r"@[A-Za-z][A-Za-z0-9_]{3,31}|-100\d{5,20}", TELEGRAM_PUBLIC_CHANNEL
):
    raise ImproperlyConfigured(
        "TOCSIN_TELEGRAM_PUBLIC_CHANNEL must be a channel's @username or its -100… id"
    )
# Committee channels through Apprise (a Matrix room, an ntfy topic): off until turned on;
# the operator adds each with `tocsin manage committee_channels add`.
APPRISE_ENABLED = envbool("TOCSIN_APPRISE_ENABLED", False)
# Committee channels post only to public addresses, except to the hosts listed here
# (host names, *.domain, IP addresses): servers on the operator's own network, such as
# a self-hosted ntfy or Matrix homeserver.
APPRISE_PRIVATE_HOSTS = envhosts("TOCSIN_APPRISE_PRIVATE_HOSTS", "")

# --- Trust boundaries between committees ---
# New committees wait for the operator (`tocsin manage committees approve SLUG`) before
# they take reports or send alerts. Off: they work at once, with the capped area below.
COMMITTEES_NEED_APPROVAL = envbool("TOCSIN_COMMITTEES_NEED_APPROVAL", True)
# The largest area radius a committee the operator has not approved may draw, and any
# committee's largest.
UNAPPROVED_AREA_M = envint("TOCSIN_UNAPPROVED_AREA_M", 3000, minimum=300, maximum=30000)
AREA_MAX_M = envint("TOCSIN_AREA_MAX_M", 30000, minimum=300, maximum=100000)
# An alert one staff member sends may reach at most this many members; a wider one waits
# for a second staff member (organizers may set their committee's lower).
TWO_PERSON_THRESHOLD = envint("TOCSIN_TWO_PERSON_THRESHOLD", 500, minimum=1, maximum=10_000_000)
# The broadcast breaker: past this many member alerts in an hour, a committee's next
# alert waits for a second person and its organizers are told.
ALERTS_PER_HOUR = envint("TOCSIN_ALERTS_PER_HOUR", 10, minimum=1, maximum=1000)

# Personal invites a responder, dispatcher or organizer may make per committee per week
# (each vouches for the person who joins with it).
VOUCH_INVITES_PER_WEEK = envint("TOCSIN_VOUCH_INVITES_PER_WEEK", 5, minimum=0, maximum=100)
# A channel that confirms receipt (web push, via the app) and stays silent this long
# after sending: the alert goes to the member's next channel too.
DELIVERY_RECEIPT_SECONDS = envint("TOCSIN_DELIVERY_RECEIPT_SECONDS", 120, minimum=10, maximum=86400)
ALERT_LINK_HOURS = envint("TOCSIN_ALERT_LINK_HOURS", 48, minimum=1, maximum=720)
# A verifier's link to answer a request works this long.
VERIFY_LINK_HOURS = envint("TOCSIN_VERIFY_LINK_HOURS", 12, minimum=1, maximum=72)

# AGPL section 13: every page offers the running version's source. Empty: Tocsin serves an
# archive of its own files at /source/; set, /source/ sends people to this URL instead (the
# operator's published copy of exactly the version they run).
SOURCE_URL = envstr("TOCSIN_SOURCE_URL")
if SOURCE_URL and not SOURCE_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("TOCSIN_SOURCE_URL must start with https:// or http://")

# --- Health and metrics (tocsin.ops) ---
# /readyz answers 503 when no worker said it was alive within this many seconds (workers
# beat every 10), or when the oldest delivery still waiting is older than the second.
READY_WORKER_SECONDS = envint("TOCSIN_READY_WORKER_SECONDS", 60, minimum=15, maximum=3600)
READY_QUEUE_SECONDS = envint("TOCSIN_READY_QUEUE_SECONDS", 300, minimum=10, maximum=86400)
# /metrics answers requests made straight from this machine (no proxy in between), and
# any request with "Authorization: Bearer <this token>".
METRICS_TOKEN = envsecret("TOCSIN_METRICS_TOKEN")

# --- Backups (`tocsin manage backup` and `restore`, tocsin.ops.backup) ---
# Encrypted to this X25519 public key (base64, from `tocsin manage backup --keygen FILE`);
# its private key stays off the server.
BACKUP_PUBLIC_KEY = envstr("TOCSIN_BACKUP_PUBLIC_KEY")
# Where backups go; copy them off this machine too.
BACKUP_DIR = Path(envstr("TOCSIN_BACKUP_DIR") or DATA_DIR / "backups").resolve()
# Each backup deletes the ones older than this (never the newest).
BACKUP_KEEP_DAYS = envint("TOCSIN_BACKUP_KEEP_DAYS", 14, minimum=1, maximum=3650)

PORT = envint("TOCSIN_PORT", 8000, minimum=1, maximum=65535)
HOST = envstr("TOCSIN_HOST", "127.0.0.1")

# "plain" lines for a person, or "json": one JSON object per event and line, for a log
# collector. Either way scrubbed of addresses, emails and phone numbers (tocsin.lib.logging).
LOG_FORMAT = envstr("TOCSIN_LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"TOCSIN_LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"privacy": {"()": "tocsin.lib.logging.PrivacyFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "tocsin.lib.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["privacy"],
            "formatter": LOG_FORMAT,
        }
    },
    "root": {"handlers": ["console"], "level": envstr("TOCSIN_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Django's request logger would log request details; keep only the message.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": [], "propagate": False},
        "uvicorn.access": {"handlers": [], "propagate": False},
        # At DEBUG urllib3 logs every URL it requests, and a push endpoint's URL is a
        # member's contact address (tests/test_seized_database.py).
        "urllib3": {"level": "WARNING"},
        # Apprise logs the server, room and topic of every committee post, at INFO and on
        # failure: never in Tocsin's log (tocsin.transports.apprise keeps what is safe).
        "apprise": {"handlers": [], "propagate": False},
    },
}

# --- Uploads (report photos) ---
# Reporters may attach a few photos; each is decoded and re-encoded without metadata
# (tocsin/intake/photos.py). The original must never reach the disk (DESIGN.md section 2),
# so uploads stay in memory: the only handler is the memory one, and a request too big to
# hold in memory is refused (by tocsin.lib.bodylimit under ASGI, which refuses any other
# route's body over REQUEST_MAX_BYTES; under WSGI its files are dropped and the form says
# so), never spooled to a temporary file.
UPLOAD_MAX_MB = envint("TOCSIN_UPLOAD_MAX_MB", 10, minimum=1, maximum=50)
UPLOAD_MAX_BYTES = UPLOAD_MAX_MB * 1024 * 1024
REPORT_PHOTOS_MAX = 3
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
# Every request body but the routes that take photos (tocsin.lib.bodylimit.takes_uploads):
# no form, webhook or page script sends more than a few kilobytes.
REQUEST_MAX_BYTES = 64 * 1024
# Form fields and JSON bodies (not file data), which Django checks itself: the same limit
# holds behind any server (a report's text is 1000 characters).
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES
# A whole report: every photo at the limit, plus the form's fields and multipart framing.
FILE_UPLOAD_MAX_MEMORY_SIZE = REPORT_PHOTOS_MAX * UPLOAD_MAX_BYTES + DATA_UPLOAD_MAX_MEMORY_SIZE
# More files than this in one request is not a person choosing photos: refuse it outright.
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# Only re-encoded photos are written here, under random names. Nothing serves this folder:
# there is no MEDIA_URL; dispatchers fetch photos through an access-checked view.
MEDIA_ROOT = DATA_DIR / "media"

# --- Intake guards (web form: tocsin/intake/pow.py, ratelimit.py, burst.py) ---
# Proof of work (ALTCHA): the most numbers a browser may have to try. Rises from the floor to
# the ceiling as the number of web reports in the last minutes grows.
POW_MIN = envint("TOCSIN_POW_MIN", 20000, minimum=1000, maximum=10_000_000)
POW_MAX = envint("TOCSIN_POW_MAX", 300000, minimum=1000, maximum=10_000_000)
if POW_MAX < POW_MIN:
    raise ImproperlyConfigured("TOCSIN_POW_MAX must be >= TOCSIN_POW_MIN")
# The proof of work a report needs once its network is past its share (below): harder
# than any the load asks for, so a flood from one network pays for each report past it.
POW_BURST = envint("TOCSIN_POW_BURST", 1_000_000, minimum=1000, maximum=10_000_000)
if POW_BURST < POW_MAX:
    raise ImproperlyConfigured("TOCSIN_POW_BURST must be >= TOCSIN_POW_MAX")
# Web reports one network (/24 IPv4, /48 IPv6) may send per 10 minutes before the next ones
# go to the desk's burst lane (coworkers on one Wi-Fi at a raid land there, never refused).
# Counted in the cache under a keyed hash that changes every UTC day; the address is never
# kept.
REPORT_RATE_PER_10MIN = envint("TOCSIN_REPORT_RATE_PER_10MIN", 10, minimum=1, maximum=10000)
# A report by text (SMS, Signal, Telegram) from anyone is a short conversation ("Where is
# it?", "What do you see?"): it waits this long for each answer, then a new text starts a
# new report (tocsin.incidents.texting).
TEXT_CONVERSATION_MINUTES = envint("TOCSIN_TEXT_CONVERSATION_MINUTES", 15, minimum=1, maximum=240)
# Place and address searches (and "what is near here") one network may make per 10 minutes
# on the report page; counted like reports, never kept.
PLACE_SEARCH_RATE_PER_10MIN = envint(
    "TOCSIN_PLACE_SEARCH_RATE_PER_10MIN", 120, minimum=1, maximum=100000
)
# Requests to the public JSON API (/api/v1/) one network may make per 10 minutes; past
# that the API answers 429. Counted like reports, never kept.
API_RATE_PER_10MIN = envint("TOCSIN_API_RATE_PER_10MIN", 600, minimum=1, maximum=1_000_000)
# Sign-ups to the daily digest one network may make per 10 minutes (counted like reports).
DIGEST_PER_10MIN = envint("TOCSIN_DIGEST_PER_10MIN", 10, minimum=1, maximum=10000)
# The local hour (TOCSIN_TIME_ZONE) at which the day's digest of newly public incidents goes.
DIGEST_HOUR = envint("TOCSIN_DIGEST_HOUR", 7, minimum=0, maximum=23)
# Past this many in 10 minutes, far beyond what people on one network can type, a report
# is refused and the page gives the hotline numbers.
REPORT_REFUSE_PER_10MIN = envint("TOCSIN_REPORT_REFUSE_PER_10MIN", 200, minimum=1, maximum=100_000)
if REPORT_REFUSE_PER_10MIN < REPORT_RATE_PER_10MIN:
    raise ImproperlyConfigured(
        "TOCSIN_REPORT_REFUSE_PER_10MIN must be >= TOCSIN_REPORT_RATE_PER_10MIN"
    )
# Receipt codes one network may look up without finding a report, per 10 minutes; past
# that no code is checked until the window ends, so codes cannot be enumerated.
RECEIPT_MISSES_PER_10MIN = envint("TOCSIN_RECEIPT_MISSES_PER_10MIN", 20, minimum=3, maximum=10000)


def _networks(name: str) -> list[str]:
    import ipaddress

    found = [p.strip() for p in envstr(name).split(",") if p.strip()]
    for network in found:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {network!r} is not an address or network"
            ) from None
    return found


# Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated).
TRUSTED_PROXIES = _networks("TOCSIN_TRUSTED_PROXIES")
# More web reports than this from sources new today, in one committee-area cell within
# BURST_MINUTES, go to the desk's "suspicious" lane.
BURST_NEW_SOURCES = envint("TOCSIN_BURST_NEW_SOURCES", 5, minimum=1, maximum=10000)
BURST_MINUTES = envint("TOCSIN_BURST_MINUTES", 10, minimum=1, maximum=24 * 60)
# A source stays "new" this long after its first web report of the day.
BURST_NEW_SOURCE_MINUTES = envint("TOCSIN_BURST_NEW_SOURCE_MINUTES", 60, minimum=1, maximum=24 * 60)

# --- Retention ---
# What the purge deletes and when (docs/data-inventory.md, tocsin/vault/retention.py).
# Ages count from: the incident closing (reports, responses, incident summaries), the
# report arriving (reports never attached to an incident), the alert being sent
# (deliveries), the code expiring (login codes), the task finishing, the message arriving.
RETAIN_REPORTS_HOURS = envint("TOCSIN_RETAIN_REPORTS_HOURS", 72, minimum=0, maximum=24 * 365)
RETAIN_UNATTACHED_REPORTS_HOURS = envint(
    "TOCSIN_RETAIN_UNATTACHED_REPORTS_HOURS", 72, minimum=1, maximum=24 * 365
)
RETAIN_DELIVERIES_DAYS = envint("TOCSIN_RETAIN_DELIVERIES_DAYS", 7, minimum=1, maximum=365)
RETAIN_RESPONSES_DAYS = envint("TOCSIN_RETAIN_RESPONSES_DAYS", 30, minimum=0, maximum=365)
# Sign-ups without an account per network (keyed hash of its /24 or /48) in 10 minutes:
# each one sends a message, so a flood must not make Tocsin spam (or pay for) strangers.
RSVP_PER_10MIN = envint("TOCSIN_RSVP_PER_10MIN", 30, minimum=1, maximum=10_000)
# Public pages show no count below this ("fewer than 5 people are coming"): a small
# number can point at people. Organizer-only pages show exact counts (tocsin.lib.counts).
PUBLIC_MIN_COUNT = envint("TOCSIN_PUBLIC_MIN_COUNT", 5, minimum=1, maximum=1000)
# Who signed up for a planned mobilization (and their sealed address): days after it ends.
RETAIN_RSVPS_DAYS = envint("TOCSIN_RETAIN_RSVPS_DAYS", 7, minimum=0, maximum=365)
# A closed legal case is purged this long after it closed, unless the legal team keeps it.
RETAIN_CASES_DAYS = envint("TOCSIN_RETAIN_CASES_DAYS", 30, minimum=0, maximum=3650)
RETAIN_PANIC_DAYS = envint("TOCSIN_RETAIN_PANIC_DAYS", 30, minimum=0, maximum=365)
RETAIN_LOGIN_CODES_HOURS = envint("TOCSIN_RETAIN_LOGIN_CODES_HOURS", 0, minimum=0, maximum=24 * 30)
RETAIN_TASK_RESULTS_DAYS = envint("TOCSIN_RETAIN_TASK_RESULTS_DAYS", 1, minimum=0, maximum=365)
RETAIN_SOURCE_TAGS_HOURS = envint("TOCSIN_RETAIN_SOURCE_TAGS_HOURS", 48, minimum=1, maximum=48)
RETAIN_DEMO_MESSAGES_DAYS = envint("TOCSIN_RETAIN_DEMO_MESSAGES_DAYS", 7, minimum=0, maximum=365)
# How often each worker runs the purge (once at start, then every this many minutes).
PURGE_INTERVAL_MINUTES = envint("TOCSIN_PURGE_INTERVAL_MINUTES", 60, minimum=1, maximum=24 * 60)
# The purge's `manage purge` command lives in the vault app.
INSTALLED_APPS += ["tocsin.vault", "tocsin.retention"]

# --- Accounts ---
# Dispatchers and organizers must use a passkey or an authenticator app (never SMS).
STAFF_MFA = envbool("TOCSIN_STAFF_MFA", True)
# A session ends after this long without use, and after this long in any case.
SESSION_IDLE_HOURS = envint("TOCSIN_SESSION_IDLE_HOURS", 24 * 7, minimum=1, maximum=24 * 90)
SESSION_ABSOLUTE_DAYS = envint("TOCSIN_SESSION_ABSOLUTE_DAYS", 30, minimum=1, maximum=365)
SESSION_COOKIE_AGE = SESSION_IDLE_HOURS * 3600
SESSION_SAVE_EVERY_REQUEST = True
# Login codes one email address may ask for per hour.
LOGIN_CODES_PER_HOUR = envint("TOCSIN_LOGIN_CODES_PER_HOUR", 5, minimum=1, maximum=100)
# An organizer's role grant lets the new dispatcher or organizer add their first passkey or
# authenticator app from an emailed-code session for this long (tocsin/members/security.py).
FACTOR_ENROLLMENT_HOURS = envint("TOCSIN_FACTOR_ENROLLMENT_HOURS", 24, minimum=1, maximum=24 * 7)
# Codes a person types (login codes, authenticator codes, channel codes): tries per account
# and per network (/24 IPv4, /48 IPv6, counted under a keyed hash in the cache only) in each
# window. Past either, no code is checked until the window ends (tocsin/members/attempts.py).
CODE_TRIES_PER_ACCOUNT = envint("TOCSIN_CODE_TRIES_PER_ACCOUNT", 10, minimum=3, maximum=1000)
CODE_TRIES_PER_NETWORK = envint("TOCSIN_CODE_TRIES_PER_NETWORK", 30, minimum=3, maximum=100_000)
CODE_TRIES_MINUTES = envint("TOCSIN_CODE_TRIES_MINUTES", 15, minimum=1, maximum=24 * 60)
# Confirmation messages (email links, SMS and Signal codes, Telegram links) one member may
# set off per hour, across all their channels.
VERIFICATIONS_PER_HOUR = envint("TOCSIN_VERIFICATIONS_PER_HOUR", 6, minimum=1, maximum=100)

# --- Federation with partner networks (tocsin.federation) ---
# Our Ed25519 private key (raw 32 bytes, base64url; `tocsin manage partners keygen` makes
# one). Unset: federation is off (nothing sent, /federation/inbox refuses).
FEDERATION_KEY = envsecret("TOCSIN_FEDERATION_KEY")
if FEDERATION_KEY:
    import base64 as _base64
    import binascii as _binascii

    try:
        _raw = _base64.urlsafe_b64decode(FEDERATION_KEY + "=" * (-len(FEDERATION_KEY) % 4))
    except (ValueError, _binascii.Error):
        _raw = b""
    if len(_raw) != 32:
        raise ImproperlyConfigured(
            "TOCSIN_FEDERATION_KEY must be an Ed25519 private key: 32 bytes in base64url "
            "(`tocsin manage partners keygen` makes one)"
        )
# Partners are posted to at public addresses only, except these hosts of the operator's
# own network (a partner on the same LAN or VPN, the two instances of the tests on
# loopback): host names, *.domain or IP addresses, comma-separated. Empty: none.
FEDERATION_PRIVATE_HOSTS = envhosts("TOCSIN_FEDERATION_PRIVATE_HOSTS", "")
# Alerts one partner network may send our inbox in 10 minutes (its Cancels not counted).
FEDERATION_ALERTS_PER_10MIN = envint(
    "TOCSIN_FEDERATION_ALERTS_PER_10MIN", 60, minimum=1, maximum=100000
)
INSTALLED_APPS += ["tocsin.federation"]
