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

from tocsin.intake.forms import photos_too_big  # noqa: E402
from tocsin.lib.bodylimit import BodyLimit  # noqa: E402

# A body too big to hold in memory is refused before Django would spool it to disk.
application = BodyLimit(
    django_application, limit=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, message=photos_too_big
)
