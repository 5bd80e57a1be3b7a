"""CSRF with Referrer-Policy: no-referrer.

Browsers send "Origin: null" and no Referer on a form post from a no-referrer page;
tocsin.lib.csrf decides the origin from Sec-Fetch-Site and still requires the token.
"""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.test import RequestFactory

from tocsin.lib.csrf import CsrfMiddleware

HOST = "tocsin.example.org"


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("done")


@pytest.fixture
def tokens(settings) -> tuple[str, str]:
    """Return (cookie secret, form token) from a GET the middleware handled."""
    settings.ALLOWED_HOSTS = [HOST]
    request = RequestFactory().get("/", secure=True, HTTP_HOST=HOST)
    middleware = CsrfMiddleware(ok)
    middleware.process_request(request)
    token = get_token(request)
    response = middleware.process_response(request, HttpResponse())
    return response.cookies[settings.CSRF_COOKIE_NAME].value, token


def post(tokens: tuple[str, str], *, token: bool = True, **headers: str) -> int:
    cookie, form_token = tokens
    from django.conf import settings

    request = RequestFactory().post(
        "/report/",
        {"csrfmiddlewaretoken": form_token} if token else {},
        secure=True,
        HTTP_HOST=HOST,
        **headers,
    )
    request.COOKIES[settings.CSRF_COOKIE_NAME] = cookie
    middleware = CsrfMiddleware(ok)
    middleware.process_request(request)
    response = middleware.process_view(request, ok, (), {}) or ok(request)
    return response.status_code


def test_it_accepts_a_same_origin_form_from_a_no_referrer_page(tokens) -> None:
    assert post(tokens, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin") == 200


def test_it_accepts_a_same_origin_post_with_no_origin_and_no_referer(tokens) -> None:
    assert post(tokens, HTTP_SEC_FETCH_SITE="same-origin") == 200


def test_it_refuses_a_cross_site_post_even_with_a_token(tokens) -> None:
    assert post(tokens, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="cross-site") == 403


def test_it_refuses_a_same_site_post_from_a_sibling_subdomain(tokens) -> None:
    assert post(tokens, HTTP_SEC_FETCH_SITE="same-site") == 403


def test_it_refuses_a_same_origin_post_without_the_token(tokens) -> None:
    assert post(tokens, token=False, HTTP_ORIGIN="null", HTTP_SEC_FETCH_SITE="same-origin") == 403


def test_it_refuses_another_origin(tokens) -> None:
    assert post(tokens, HTTP_ORIGIN="https://evil.example") == 403


def test_it_lets_the_token_decide_for_an_old_browser_with_a_null_origin(tokens) -> None:
    assert post(tokens, HTTP_ORIGIN="null") == 200
    assert post(tokens, token=False, HTTP_ORIGIN="null") == 403


def test_it_keeps_djangos_referer_check_without_fetch_metadata_or_origin(tokens) -> None:
    assert post(tokens) == 403
    assert post(tokens, HTTP_REFERER=f"https://{HOST}/report/") == 200


def test_https_cookies_are_host_prefixed(tmp_path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; django.setup();"
            "print(settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME,"
            " settings.SECURE_REFERRER_POLICY)",
        ],
        env={
            "DJANGO_SETTINGS_MODULE": "tocsin.settings",
            "TOCSIN_SITE_URL": "https://tocsin.example.org",
            "TOCSIN_DATA_DIR": str(tmp_path),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["__Host-tocsin-session", "__Host-tocsin-csrf", "no-referrer"]


def test_the_csrf_middleware_is_installed(settings) -> None:
    assert "tocsin.lib.csrf.CsrfMiddleware" in settings.MIDDLEWARE
    assert "django.middleware.csrf.CsrfViewMiddleware" not in settings.MIDDLEWARE
