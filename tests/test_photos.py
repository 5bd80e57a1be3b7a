"""Report photos: scrubbed of every metadata, refused when hostile, seen only by dispatchers."""

from __future__ import annotations

import functools
import hashlib
import io
import re
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import get_resolver, reverse
from django.utils import translation
from django.utils.html import escape
from PIL import ExifTags, Image, ImageCms, ImageFile

from tests import pow_support
from tests.asgi_support import post_scope
from tests.factories import EAST, WEST, World, world
from tocsin.alerts import messages
from tocsin.alerts.models import Alert, Purpose
from tocsin.incidents import services as incidents
from tocsin.incidents.models import State
from tocsin.incidents.reports import receive_report
from tocsin.intake import photos
from tocsin.intake.models import Channel, Report, ReportKind, ReportPhoto
from tocsin.lib.bodylimit import BodyLimit

MB = 1024 * 1024
TEXT = "Two grey vans at the corner of 4th and Soto."
# Markers planted in the test photo's metadata; none may survive scrubbing.
MAKE = "TocsinSpyCam"
MODEL = "SECRET-MODEL-X9"
XMP_SECRET = b"XMP-SECRET-LOCATION"
COMMENT_SECRET = b"COMMENT-SECRET"
THUMB_SECRET = b"THUMB-SECRET"
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    """Give each test its own MEDIA_ROOT, so the folder scan sees only its files."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


# Building test images.


def two_halves(width: int = 80, height: int = 40) -> Image.Image:
    """Return an image whose left half is red and right half blue."""
    im = Image.new("RGB", (width, height), (220, 0, 0))
    im.paste((0, 0, 220), (width // 2, 0, width, height))
    return im


def encode(im: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def with_thumbnail(exif: bytes, thumbnail: bytes) -> bytes:
    """Return ``exif`` (b"Exif\\0\\0" + TIFF) with an IFD1 holding a JPEG thumbnail, the way
    cameras write it. Pillow reads such thumbnails but does not write them."""
    tiff = exif[6:]
    e = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack(e + "I", tiff[4:8])
    (count,) = struct.unpack(e + "H", tiff[ifd0 : ifd0 + 2])
    next_at = ifd0 + 2 + 12 * count
    ifd1 = len(tiff) + len(tiff) % 2
    data_at = ifd1 + 2 + 2 * 12 + 4
    directory = (
        struct.pack(e + "H", 2)
        + struct.pack(e + "HHII", 0x0201, 4, 1, data_at)  # JPEGInterchangeFormat
        + struct.pack(e + "HHII", 0x0202, 4, 1, len(thumbnail))  # JPEGInterchangeFormatLength
        + struct.pack(e + "I", 0)
    )
    tiff = tiff[:next_at] + struct.pack(e + "I", ifd1) + tiff[next_at + 4 :]
    tiff = tiff + b"\x00" * (len(tiff) % 2) + directory + thumbnail
    return b"Exif\x00\x00" + tiff


def camera_jpeg() -> bytes:
    """Return a JPEG as a phone writes it: EXIF (orientation 6, make, model, GPS), an EXIF
    thumbnail, XMP, an ICC profile and a comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = MAKE
    exif[ExifTags.Base.Model] = MODEL
    exif[ExifTags.IFD.GPSInfo] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (34.0, 2.0, 1.5),
        ExifTags.GPS.GPSLongitudeRef: "W",
        ExifTags.GPS.GPSLongitude: (118.0, 12.0, 38.5),
    }
    thumbnail = encode(Image.new("RGB", (16, 8), (0, 200, 0)), "JPEG", comment=THUMB_SECRET)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>' + XMP_SECRET + b"</rdf:RDF></x:xmpmeta>"
    return encode(
        two_halves(),
        "JPEG",
        quality=95,
        exif=with_thumbnail(exif.tobytes(), thumbnail),
        xmp=xmp,
        icc_profile=icc,
        comment=COMMENT_SECRET,
    )


def png_header_bomb(width: int, height: int) -> bytes:
    """Return a tiny PNG whose header claims ``width`` x ``height`` greyscale pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


@functools.cache
def png_zero_bomb(side: int) -> bytes:
    """Return a real decompression bomb: a valid PNG of side x side black pixels, whose
    zeros compress about a thousand to one."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + one byte per pixel
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def scrub(data: bytes, **options: Any) -> photos.Scrubbed:
    options.setdefault("max_bytes", 10 * MB)
    return photos.scrub(data, **options)


def refusal(data: bytes, **options: Any) -> str:
    with pytest.raises(photos.PhotoError) as caught:
        scrub(data, **options)
    return caught.value.code


def reopen(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


# The scrubbing itself.


def test_the_camera_photo_really_carries_metadata() -> None:
    """The fixture is only worth something if it holds everything we strip."""
    im = reopen(camera_jpeg())
    exif = im.getexif()
    assert exif[ExifTags.Base.Make] == MAKE
    assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert 0x0201 in exif.get_ifd(ExifTags.IFD.IFD1)
    assert XMP_SECRET in im.info["xmp"]
    assert im.info.get("icc_profile")
    assert im.info["comment"] == COMMENT_SECRET


def test_it_removes_exif_gps_xmp_icc_comments_and_the_thumbnail() -> None:
    out = scrub(camera_jpeg()).data
    im = reopen(out)
    assert im.format == "JPEG"
    assert dict(im.getexif()) == {}
    assert im.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
    assert "exif" not in im.info
    assert "xmp" not in im.info
    assert "icc_profile" not in im.info
    assert "comment" not in im.info
    for marker in (b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"ICC_PROFILE", b"GPS"):
        assert marker not in out
    for secret in (MAKE.encode(), MODEL.encode(), XMP_SECRET, COMMENT_SECRET, THUMB_SECRET):
        assert secret not in out
    # One image only: an embedded thumbnail would bring a second start-of-image marker.
    assert out.count(b"\xff\xd8") == 1


def test_it_turns_the_photo_upright_before_dropping_the_orientation() -> None:
    # Orientation 6: the stored 80x40 picture is shown turned a quarter clockwise, so the
    # red left half ends up on top of a 40x80 photo.
    out = scrub(camera_jpeg())
    assert (out.width, out.height) == (40, 80)
    im = reopen(out.data).convert("RGB")
    top, bottom = im.getpixel((20, 10)), im.getpixel((20, 70))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 180 and top[2] < 60
    assert bottom[2] > 180 and bottom[0] < 60


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("WEBP", "RGB")]
)
def test_it_accepts_png_and_webp_and_stores_a_jpeg(fmt: str, mode: str) -> None:
    out = scrub(encode(two_halves().convert(mode), fmt))
    im = reopen(out.data)
    assert im.format == "JPEG"
    assert im.mode == "RGB"
    assert (out.width, out.height) == im.size == (80, 40)


def test_transparent_parts_become_white() -> None:
    out = scrub(encode(Image.new("RGBA", (10, 10), (0, 0, 0, 0)), "PNG"))
    pixel = reopen(out.data).getpixel((5, 5))
    assert isinstance(pixel, tuple) and min(pixel) > 240


def test_it_downscales_to_2048_on_the_long_side() -> None:
    out = scrub(encode(Image.new("RGB", (4000, 1000), (10, 20, 30)), "JPEG"))
    assert (out.width, out.height) == (2048, 512)
    assert reopen(out.data).size == (2048, 512)


def test_a_small_photo_keeps_its_size() -> None:
    out = scrub(encode(Image.new("RGB", (300, 200)), "PNG"))
    assert (out.width, out.height) == (300, 200)


@pytest.mark.parametrize("body", [HTML, PDF, b"", b"GIF89a" + b"\x00" * 40, b"RIFF\x00\x00"])
def test_it_refuses_what_is_not_a_jpeg_png_or_webp(body: bytes) -> None:
    assert refusal(body) == "not_a_photo"


def test_it_refuses_damaged_data_behind_an_image_signature() -> None:
    assert refusal(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20) == "unreadable"
    assert refusal(camera_jpeg()[:300]) == "unreadable"


def test_it_keeps_nothing_appended_to_an_image() -> None:
    polyglot = encode(two_halves(), "JPEG") + HTML
    assert b"<script>" not in scrub(polyglot).data


def test_it_refuses_a_file_over_the_size_limit() -> None:
    data = encode(Image.new("RGB", (64, 64)), "PNG")
    assert refusal(data + b"\x00" * 100, max_bytes=len(data)) == "too_big"
    assert photos.scrub(data, max_bytes=len(data)).width == 64


def test_pillow_refuses_big_images_in_the_whole_process() -> None:
    assert Image.MAX_IMAGE_PIXELS == photos.MAX_PIXELS == 40_000_000


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every decode Pillow starts, to show a refused image is never decoded."""
    calls: list[str] = []
    real = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> Any:
        calls.append(str(self.format))
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (8000, 6000),  # 48 megapixels: over our budget, under twice Pillow's limit
        (100_000, 100_000),  # 10 gigapixels: Pillow itself refuses at open
        (2**31 - 1, 2**31 - 1),
    ],
)
def test_it_refuses_a_header_bomb_without_decoding_it(
    decoded: list[str], width: int, height: int
) -> None:
    data = png_header_bomb(width, height)
    assert len(data) < 200
    assert refusal(data) == "too_many_pixels"
    assert decoded == []


def test_it_refuses_a_real_decompression_bomb_without_decoding_it(decoded: list[str]) -> None:
    bomb = png_zero_bomb(10_000)  # 100 megapixels of zeros in a file of about 100 kB
    assert len(bomb) < 200_000
    assert refusal(bomb) == "too_many_pixels"
    assert decoded == []


def test_an_image_just_within_the_budget_is_decoded(decoded: list[str]) -> None:
    data = png_header_bomb(40, 40)
    # The IDAT is too short for 40x40 pixels: decoding starts, then fails cleanly.
    assert refusal(data, max_pixels=1600) == "unreadable"
    assert decoded == ["PNG"]


# The report form, end to end.


def upload(data: bytes, name: str = "IMG_0001.jpg", content_type: str = "image/jpeg") -> Any:
    return SimpleUploadedFile(name, data, content_type=content_type)


def form(*files: Any, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "checkpoint",
        "text": TEXT,
        "nonce": "nonce-1",
        "lat": EAST[0],
        "lng": EAST[1],
        "altcha": pow_support.solution(),
        **fields,
    }
    if files:
        data["photos"] = list(files)
    return data


def post(client: Client, data: dict[str, Any], **extra: Any) -> Any:
    return client.post(reverse("report"), data, **extra)


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


def test_the_form_asks_for_photos_in_a_multipart_form(client: Client, w: World) -> None:
    page = client.get(reverse("report")).content.decode()
    assert 'enctype="multipart/form-data"' in page
    field = re.search(r'<input type="file" name="photos"[^>]*>', page)
    assert field is not None
    assert 'accept="image/jpeg,image/png,image/webp"' in field.group(0)
    assert " multiple" in field.group(0)
    assert escape("Photos are optional. We remove location and camera data.") in page
    assert escape("Do not photograph people's faces if you can avoid it.") in page


def test_a_report_with_photos_stores_only_scrubbed_copies(
    client: Client, w: World, media: Path
) -> None:
    originals = [
        camera_jpeg(),
        encode(two_halves(), "PNG"),
        encode(two_halves(), "WEBP"),
    ]
    files = [
        upload(originals[0], "IMG_0001.jpg"),
        upload(originals[1], "Maria at home.png", "image/png"),
        upload(originals[2], "Screenshot.webp", "image/webp"),
    ]
    response = post(client, form(*files))
    assert response.status_code == 302
    report = Report.objects.get()
    assert report.text == TEXT
    rows = list(report.photos.all())
    assert len(rows) == 3
    on_disk = stored_files(media)
    assert len(on_disk) == 3
    assert {p.relative_to(media).as_posix() for p in on_disk} == {r.file.name for r in rows}
    for path in on_disk:
        data = path.read_bytes()
        assert re.fullmatch(r"photos/[0-9a-f]{32}\.jpg", path.relative_to(media).as_posix())
        assert data not in originals
        im = reopen(data)
        assert im.format == "JPEG"
        assert dict(im.getexif()) == {}
        assert "xmp" not in im.info
        assert MAKE.encode() not in data
    # The names the reporter's files had are kept nowhere.
    for row in rows:
        for name in ("IMG_0001", "Maria", "Screenshot"):
            assert name not in row.file.name


def test_the_stored_files_sha256_matches_the_row(client: Client, w: World, media: Path) -> None:
    post(client, form(upload(camera_jpeg())))
    photo = ReportPhoto.objects.get()
    data = (media / photo.file.name).read_bytes()
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert photo.size_bytes == len(data)
    assert (photo.width, photo.height) == reopen(data).size == (40, 80)


def test_a_report_without_photos_still_works(client: Client, w: World, media: Path) -> None:
    assert post(client, form()).status_code == 302
    assert Report.objects.get().photos.count() == 0
    assert stored_files(media) == []


def radio_checked(page: str, value: str) -> bool:
    tag = re.search(rf'<input type="radio" name="kind" value="{value}"[^>]*>', page)
    return tag is not None and "checked" in tag.group(0)


@pytest.mark.parametrize("body", [HTML, PDF], ids=["html", "pdf"])
def test_a_file_renamed_jpg_is_refused_and_the_rest_is_kept(
    client: Client, w: World, media: Path, body: bytes
) -> None:
    response = post(client, form(upload(body, "photo.jpg"), kind="workplace_raid"))
    page = response.content.decode()
    assert response.status_code == 400
    assert escape("Photo 1: That file is not a photo. Send a JPEG, PNG or WebP image.") in page
    assert escape(TEXT) in page
    assert radio_checked(page, "workplace_raid")
    assert f'name="lat" value="{EAST[0]}"' in page
    assert f'name="lng" value="{EAST[1]}"' in page
    assert not Report.objects.exists()
    assert stored_files(media) == []


def test_photos_sent_with_another_mistake_are_asked_for_again(client: Client, w: World) -> None:
    # A browser cannot refill a file input: say so, rather than let the photos vanish.
    response = post(client, form(upload(encode(two_halves(), "PNG"), "a.png"), lat="", lng=""))
    page = response.content.decode()
    assert response.status_code == 400
    assert "Pick the place on the map" in page
    assert "Your photos were not sent yet: choose them again." in page
    assert escape(TEXT) in page


def test_one_bad_photo_among_good_ones_names_which(client: Client, w: World, media: Path) -> None:
    good = encode(two_halves(), "PNG")
    response = post(client, form(upload(good, "a.png"), upload(HTML, "b.jpg")))
    assert response.status_code == 400
    assert "Photo 2: " in response.content.decode()
    assert not Report.objects.exists()
    assert stored_files(media) == []


def test_more_than_three_photos_are_refused(client: Client, w: World, media: Path) -> None:
    good = encode(two_halves(), "PNG")
    response = post(client, form(*(upload(good, f"{i}.png") for i in range(4))))
    assert response.status_code == 400
    assert "You can send up to 3 photos." in response.content.decode()
    assert escape(TEXT) in response.content.decode()
    assert not Report.objects.exists()


def test_a_photo_over_the_size_setting_is_refused(
    client: Client, w: World, media: Path, settings: Any
) -> None:
    settings.UPLOAD_MAX_MB = 1
    settings.UPLOAD_MAX_BYTES = MB
    big = encode(two_halves(), "PNG") + b"\x00" * MB
    response = post(client, form(upload(big, "big.png")))
    assert response.status_code == 400
    assert "Photo 1: Each photo must be 1 MB or smaller." in response.content.decode()
    assert escape(TEXT) in response.content.decode()
    assert not Report.objects.exists()


def test_a_decompression_bomb_is_refused_through_the_form(
    client: Client, w: World, media: Path, decoded: list[str]
) -> None:
    response = post(client, form(upload(png_zero_bomb(10_000), "bomb.png")))
    assert response.status_code == 400
    assert "too large (over 40 megapixels)" in response.content.decode()
    assert decoded == []
    assert stored_files(media) == []


def test_uploads_are_held_in_memory_only() -> None:
    assert django_settings.FILE_UPLOAD_HANDLERS == [
        "django.core.files.uploadhandler.MemoryFileUploadHandler"
    ]
    from tests import settings as configured

    assert configured.MEDIA_ROOT == configured.DATA_DIR / "media"
    assert django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE >= (
        django_settings.REPORT_PHOTOS_MAX * django_settings.UPLOAD_MAX_BYTES
    )


@pytest.fixture
def no_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to spool an upload to a temporary file."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an upload was about to be written to a temporary file")

    monkeypatch.setattr("django.core.files.temp.NamedTemporaryFile", refuse)
    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", refuse)


def test_a_request_too_big_for_memory_is_refused_not_spooled(
    client: Client, w: World, media: Path, settings: Any, no_temp_files: None
) -> None:
    photo = encode(Image.new("RGB", (300, 300)), "PNG")
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = len(photo) // 2
    response = post(client, form(upload(photo, "a.png")))
    page = response.content.decode()
    assert response.status_code == 400
    assert "The photos are too large together." in page
    assert escape(TEXT) in page
    assert not Report.objects.exists()
    assert stored_files(media) == []


def test_a_rolled_back_report_leaves_no_file(
    w: World, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ReportPhoto.store
    calls: list[int] = []

    def store_then_fail(report: Report, photo: photos.Scrubbed) -> ReportPhoto:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(report, photo)

    monkeypatch.setattr(ReportPhoto, "store", store_then_fail)
    photo = scrub(encode(two_halves(), "PNG"))
    with pytest.raises(RuntimeError):
        receive_report(
            channel=Channel.WEB,
            kind=ReportKind.CHECKPOINT,
            lat=EAST[0],
            lng=EAST[1],
            photos=[photo, photo],
        )
    assert len(calls) == 2
    assert not Report.objects.exists()
    assert stored_files(media) == []


def test_deleting_a_report_deletes_its_photo_files(
    w: World, media: Path, django_capture_on_commit_callbacks: Any
) -> None:
    report = receive_report(
        channel=Channel.WEB,
        kind=ReportKind.CHECKPOINT,
        lat=EAST[0],
        lng=EAST[1],
        photos=[scrub(encode(two_halves(), "PNG"))],
    )
    assert len(stored_files(media)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        report.delete()
    assert not ReportPhoto.objects.exists()
    assert stored_files(media) == []


def test_a_spanish_reporter_gets_the_refusal_in_spanish(client: Client, w: World) -> None:
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "es"
    response = post(client, form(upload(HTML, "foto.jpg")))
    with translation.override("es"):
        reason = translation.gettext("That file is not a photo. Send a JPEG, PNG or WebP image.")
        line = translation.gettext("Photo %(number)d: %(reason)s") % {"number": 1, "reason": reason}
    assert reason != "That file is not a photo. Send a JPEG, PNG or WebP image."
    assert escape(line) in response.content.decode()


# Who sees a photo.


def photo_in(w: World, point: tuple[float, float] = EAST) -> ReportPhoto:
    report = receive_report(
        channel=Channel.WEB,
        kind=ReportKind.CHECKPOINT,
        lat=point[0],
        lng=point[1],
        text=TEXT,
        photos=[scrub(camera_jpeg())],
    )
    return report.photos.get()


def as_(persona: Any) -> Client:
    client = Client()
    if persona is not None:
        client.force_login(persona.user)
    return client


def same_page(body: bytes) -> bytes:
    """Return the page without what differs per request anyway: nonces and CSRF tokens."""
    body = re.sub(rb'nonce="[^"]*"', b'nonce=""', body)
    body = re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", body)
    return re.sub(rb"/desk/photos/\d+/", b"<path>", body)


def test_a_dispatcher_of_the_committee_sees_the_photo(w: World, media: Path) -> None:
    photo = photo_in(w)
    response = as_(w.dispatcher).get(reverse("report_photo", args=[photo.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Disposition"] == "inline"
    assert response["X-Content-Type-Options"] == "nosniff"
    body = response.content
    assert hashlib.sha256(body).hexdigest() == photo.sha256


@pytest.mark.parametrize("persona", ["west_dispatcher", "west_organizer", "outsider", "member"])
def test_others_get_the_same_404_as_for_a_missing_photo(
    w: World, media: Path, persona: str
) -> None:
    photo = photo_in(w)
    client = as_(getattr(w, persona))
    foreign = client.get(reverse("report_photo", args=[photo.pk]))
    missing = client.get(reverse("report_photo", args=[photo.pk + 1000]))
    assert foreign.status_code == missing.status_code == 404
    assert same_page(foreign.content) == same_page(missing.content)


def test_the_west_dispatcher_sees_a_west_photo(w: World, media: Path) -> None:
    photo = photo_in(w, WEST)
    assert as_(w.west_dispatcher).get(reverse("report_photo", args=[photo.pk])).status_code == 200
    assert as_(w.dispatcher).get(reverse("report_photo", args=[photo.pk])).status_code == 404


def test_anonymous_is_sent_to_the_login_page(w: World, media: Path) -> None:
    photo = photo_in(w)
    response = Client().get(reverse("report_photo", args=[photo.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_dismissed_reports_photo_is_gone_from_the_desk(w: World, media: Path) -> None:
    photo = photo_in(w)
    incidents.dismiss_report(photo.report, actor=w.dispatcher)
    assert as_(w.dispatcher).get(reverse("report_photo", args=[photo.pk])).status_code == 404


def test_the_desk_card_and_the_incident_page_show_the_photo(w: World, media: Path) -> None:
    photo = photo_in(w)
    url = reverse("report_photo", args=[photo.pk])
    desk = as_(w.dispatcher).get(reverse("desk")).content.decode()
    assert f'src="{url}"' in desk
    incident = incidents.open_incident(photo.report, actor=w.dispatcher)
    page = as_(w.dispatcher).get(reverse("incident", args=[incident.pk])).content.decode()
    assert f'src="{url}"' in page
    west_desk = as_(w.west_dispatcher).get(reverse("desk")).content.decode()
    assert url not in west_desk


def test_media_is_not_served(w: World, media: Path) -> None:
    photo = photo_in(w)
    for path in (f"/media/{photo.file.name}", f"/{photo.file.name}", f"/static/{photo.file.name}"):
        assert Client().get(path).status_code == 404
        assert as_(w.dispatcher).get(path).status_code == 404
    patterns = [str(p.pattern) for p in get_resolver().url_patterns]
    assert not [p for p in patterns if "media" in p]


def traces(photo: ReportPhoto) -> list[str]:
    """Return what would give a photo away: its URL, its file's name, its digest."""
    return [
        reverse("report_photo", args=[photo.pk]),
        photo.file.name,
        Path(photo.file.name).stem,
        photo.sha256,
    ]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_photo_is_never_in_an_alert(w: World, media: Path, language: str, purpose: str) -> None:
    photo = photo_in(w)
    incident = incidents.open_incident(photo.report, actor=w.dispatcher)
    incidents.change_state(incident, State.CONFIRMED, actor=w.dispatcher, summary="Two vans.")
    alert = Alert.objects.get(incident=incident)
    alert.purpose = purpose
    message = messages.render(alert, member_id=w.member.pk, language=language)
    rendered = " ".join([message.subject, message.text, message.html or "", message.url])
    for trace in traces(photo):
        assert trace not in rendered
    assert "<img" not in (message.html or "")


def test_a_photo_is_never_on_a_public_page(w: World, media: Path) -> None:
    photo = photo_in(w)
    incident = incidents.open_incident(photo.report, actor=w.dispatcher)
    incidents.change_state(incident, State.CONFIRMED, actor=w.dispatcher)
    token = messages.alert_link_token(member_id=w.member.pk, incident_id=incident.pk)
    pages = [
        reverse("home"),
        reverse("rights"),
        reverse("report"),
        reverse("report_done", args=[photo.report.receipt]),
        reverse("alert_page", args=[token]),
    ]
    for path in pages:
        for client in (Client(), as_(w.member)):
            response = client.get(path)
            assert response.status_code == 200, path
            body = response.content.decode()
            for trace in traces(photo):
                assert trace not in body, path


# The ASGI server: a body too big for memory never reaches Django, nor the disk.


def asgi_post(app: Any, chunks: list[bytes], *, content_length: int | None) -> tuple[int, bytes]:
    headers = [(b"content-type", b"multipart/form-data; boundary=x"), (b"host", b"testserver")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = post_scope("/report/", headers)
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async_to_sync(app)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def test_the_server_application_limits_bodies_to_memory() -> None:
    from tocsin.asgi import application

    assert isinstance(application, BodyLimit)
    # The report form's limit; every other route has a far smaller one (test_body_limit.py).
    assert application.upload_limit == django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE


@pytest.fixture
def small_limit(settings: Any) -> BodyLimit:
    from django.core.asgi import get_asgi_application

    from tocsin.intake.forms import photos_too_big

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 4096
    return BodyLimit(get_asgi_application(), limit=4096, message=photos_too_big)


def test_a_declared_oversized_body_is_refused_before_it_is_read(
    small_limit: BodyLimit, no_temp_files: None
) -> None:
    status, body = asgi_post(small_limit, [b"x" * 1000], content_length=10_000)
    assert status == 413
    assert b"The photos are too large together." in body


def test_a_streamed_oversized_body_is_cut_off_in_memory(
    small_limit: BodyLimit, no_temp_files: None
) -> None:
    status, body = asgi_post(small_limit, [b"x" * 1000] * 10, content_length=None)
    assert status == 413
    assert b"too large" in body


def test_the_refusal_speaks_the_browsers_language(small_limit: BodyLimit) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/report/",
        "headers": [(b"content-length", b"99999"), (b"accept-language", b"es")],
    }
    async_to_sync(small_limit)(scope, receive, send)
    with translation.override("es"):
        from tocsin.intake.forms import photos_too_big

        spanish = photos_too_big()
    assert sent[1]["body"] == spanish.encode()


def test_a_body_within_the_limit_passes_whole() -> None:
    seen: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    status, _ = asgi_post(
        BodyLimit(app, limit=4096, message=str), [b"x" * 1000] * 4, content_length=4000
    )
    assert status == 204
    assert b"".join(seen) == b"x" * 4000


# Through the real server: uvicorn, the ASGI wrapper, Django's ASGI handler.


@pytest.fixture
def server(transactional_db: None, media: Path) -> Any:
    from tests.browser_support import LiveServer

    live = LiveServer().start()
    yield live
    live.stop()


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "tocsin-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    for name, data in files:
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
                f'filename="{name}"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def live_solution(opener: Any, url: str) -> str:
    import json

    with opener.open(f"{url}/report/challenge.json") as r:
        return pow_support.solve(json.loads(r.read()))


def test_a_photo_goes_through_the_real_server(server: Any, media: Path) -> None:
    import http.cookiejar
    import urllib.request

    world()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{server.url}/report/") as r:
        page = r.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    body, content_type = multipart(
        {
            "csrfmiddlewaretoken": token.group(1),
            "kind": "checkpoint",
            "text": TEXT,
            "nonce": "live-1",
            "lat": str(EAST[0]),
            "lng": str(EAST[1]),
            "altcha": live_solution(opener, server.url),
        },
        [("IMG_0001.jpg", camera_jpeg())],
    )
    request = urllib.request.Request(
        f"{server.url}/report/", data=body, headers={"Content-Type": content_type}
    )
    with opener.open(request) as r:
        assert r.status == 200
        assert "/report/" in r.url and r.url.rstrip("/") != f"{server.url}/report"
    photo = ReportPhoto.objects.get()
    data = (media / photo.file.name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == photo.sha256
    assert dict(reopen(data).getexif()) == {}


def test_the_real_server_refuses_an_oversized_body_before_reading_it(server: Any) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/report/")
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE + 1))
    connection.endheaders()
    connection.send(b"x" * 1000)
    response = connection.getresponse()
    assert response.status == 413
    assert b"too large" in response.read()
    connection.close()
