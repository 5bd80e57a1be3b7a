"""CSRF protection that works with ``Referrer-Policy: no-referrer``.

Tocsin tells browsers never to send a referrer, so a page's address (an alert, a case, a
receipt) never leaves in a header. The price: a form post then carries ``Origin: null``
and no ``Referer``, which Django's own middleware must refuse. This subclass decides
where the post came from by the Fetch Metadata header ``Sec-Fetch-Site`` instead, which
every current browser sends and no page script can set. The token check stays exactly as
Django does it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseForbidden
from django.middleware.csrf import CsrfViewMiddleware

REASON_CROSS_SITE = "Sec-Fetch-Site says the request came from another site (%s)."

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfMiddleware(CsrfViewMiddleware):
    """Django's CSRF middleware, reading ``Sec-Fetch-Site`` before ``Origin``/``Referer``.

    - ``Sec-Fetch-Site: same-origin``: the browser vouches for the origin; a ``null``
      Origin (what ``no-referrer`` causes) is accepted and the Referer is not required.
    - ``cross-site`` or ``same-site``: refused, whatever the Origin says.
    - no header (a browser from before 2023): an ``Origin: null`` is ignored and the
      token decides. The CSRF cookie is ``__Host-`` prefixed over https, so nobody on
      the network or on a sibling subdomain can plant one, which is the attack Django's
      strict Referer check exists for.
    """

    def process_view(
        self,
        request: HttpRequest,
        callback: Callable[..., Any],
        callback_args: tuple[Any, ...],
        callback_kwargs: dict[str, Any],
    ) -> HttpResponseForbidden | None:
        if request.method in _UNSAFE and not getattr(callback, "csrf_exempt", False):
            site = request.META.get("HTTP_SEC_FETCH_SITE", "")
            if site in ("cross-site", "same-site") and not getattr(
                request, "_dont_enforce_csrf_checks", False
            ):
                return self._reject(request, REASON_CROSS_SITE % site)  # type: ignore[attr-defined]
            if site == "same-origin" or request.META.get("HTTP_ORIGIN") == "null":
                if request.META.get("HTTP_ORIGIN") == "null":
                    del request.META["HTTP_ORIGIN"]
                request._tocsin_origin_vouched = True  # type: ignore[attr-defined]
        return super().process_view(request, callback, callback_args, callback_kwargs)

    def _check_referer(self, request: HttpRequest) -> None:
        if getattr(request, "_tocsin_origin_vouched", False):
            return
        super()._check_referer(request)  # type: ignore[misc]
