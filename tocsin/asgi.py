import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
# WhiteNoise hands static files to Django as sync iterators; serving them is correct,
# the warning about it is noise in the operator's log.
warnings.filterwarnings(
    "ignore", message="StreamingHttpResponse must consume synchronous iterators"
)
django_application = get_asgi_application()

# Imported once Django is set up: the wrapper reads settings and translations.
from django.conf import settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from tocsin.incidents.report_views import likely_refused  # noqa: E402
from tocsin.intake.forms import photos_too_big  # noqa: E402
from tocsin.lib.bodylimit import ASGIApp, BodyLimit, too_large  # noqa: E402
from tocsin.lib.inline import Inline  # noqa: E402
from tocsin.lib.sse import serve_streams_outside_django  # noqa: E402

# A report refused by its network's rate limit is answered on the event loop, without the
# thread Django gives each request, and the form's other posts on threads kept from one
# request to the next (tocsin.lib.inline): in a flood most answers are these. On the event
# loop only with the in-process cache: with Redis, counting is a network call that would
# block it.
served: ASGIApp = Inline(
    django_application,
    path=reverse("report"),
    likely=likely_refused,
    limit=settings.REQUEST_MAX_BYTES,
    on_loop=not settings.REDIS_URL,
)
# A body over 64 kB is refused before Django reads it; the routes that take photos may
# send what memory holds, and are refused before Django would spool it to disk.
# Live pages' streams are served outside Django once their view has checked access, so an
# open stream holds no request, response or thread (tocsin.lib.sse).
application = BodyLimit(
    serve_streams_outside_django(served),
    limit=settings.REQUEST_MAX_BYTES,
    message=too_large,
    upload_limit=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
    upload_message=photos_too_big,
)
