"""Report photos, scrubbed: bytes in, a clean JPEG out.

A reporter's photo can carry where it was taken (EXIF GPS), the phone that took it, an
embedded thumbnail of the uncropped picture, XMP, an ICC profile and comments. Tocsin keeps
none of it (DESIGN.md section 2): each photo is decoded, turned upright, downscaled and
re-encoded as a new JPEG built from the pixels alone. This module does not touch the
database or the disk, so it is easy to test with any bytes.
"""

from __future__ import annotations

import io
from typing import NamedTuple

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps

# Phones take 12-50 megapixel photos; over this budget an image is refused before a single
# pixel is decoded, so a small file claiming a huge size cannot exhaust memory.
MAX_PIXELS = 40_000_000
# The long side of a stored photo: enough to read a sign or a licence plate on a van.
MAX_SIDE = 2048
QUALITY = 85

# Pillow's own guard for every image it opens in this process: it warns over this many
# pixels and refuses over twice as many, even where our check below is not in the way.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Magic bytes of the formats we take, checked before Pillow sees the data. The name and
# the type the browser claims are never trusted.
_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


def sniff(data: bytes) -> str | None:
    """Return the Pillow format of ``data`` (JPEG, PNG or WEBP) from its magic bytes, or None."""
    if data.startswith(_JPEG):
        return "JPEG"
    if data.startswith(_PNG):
        return "PNG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


class PhotoError(ValueError):
    """A photo was refused. ``code`` is for code and tests, ``message`` for the person."""

    def __init__(self, code: str, message: str | Promise) -> None:
        super().__init__(code)
        self.code = code
        self.message = message


def too_big(max_bytes: int) -> PhotoError:
    mb = max(1, max_bytes // (1024 * 1024))
    return PhotoError("too_big", _("Each photo must be %(mb)d MB or smaller.") % {"mb": mb})


def not_a_photo() -> PhotoError:
    return PhotoError("not_a_photo", _("That file is not a photo. Send a JPEG, PNG or WebP image."))


def too_many_pixels(max_pixels: int) -> PhotoError:
    mp = max(1, max_pixels // 1_000_000)
    return PhotoError(
        "too_many_pixels",
        _("That image is too large (over %(mp)d megapixels). Send a smaller one.") % {"mp": mp},
    )


def unreadable() -> PhotoError:
    return PhotoError(
        "unreadable", _("That photo could not be read. It may be damaged; try another one.")
    )


class Scrubbed(NamedTuple):
    """A re-encoded photo: JPEG bytes with no metadata, and its size in pixels."""

    data: bytes
    width: int
    height: int


def scrub(
    data: bytes,
    *,
    max_bytes: int,
    max_pixels: int = MAX_PIXELS,
    max_side: int = MAX_SIDE,
) -> Scrubbed:
    """Return ``data`` re-encoded as an upright JPEG of at most ``max_side`` pixels a side,
    carrying no EXIF, GPS, XMP, ICC profile, comment or thumbnail.

    Raises PhotoError when the data is too big, is not a JPEG, PNG or WebP by its magic
    bytes, claims more than ``max_pixels`` pixels, or cannot be decoded.
    """
    if len(data) > max_bytes:
        raise too_big(max_bytes)
    kind = sniff(data)
    if kind is None:
        raise not_a_photo()
    try:
        # Only the sniffed format's decoder may open it: a file is what its bytes say.
        with Image.open(io.BytesIO(data), formats=[kind]) as im:
            # Image.open has read only the header. Check the claimed size before any
            # pixel is decoded: this is what stops a decompression bomb.
            width, height = im.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise too_many_pixels(max_pixels)
            # A large JPEG can be decoded at 1/2, 1/4 or 1/8 scale: less memory, same result.
            im.draft(None, _fit(width, height, max_side))
            # Orientation first: after re-encoding there is no EXIF left to say which way is up.
            upright = ImageOps.exif_transpose(im)
            upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            pixels = _rgb(upright)
    except PhotoError:
        raise
    except Image.DecompressionBombError:
        raise too_many_pixels(max_pixels) from None
    except Exception:
        # Damaged or hostile data can fail in many ways inside a decoder; each is a refusal
        # of that photo, never a server error.
        raise unreadable() from None
    # A new image holds only pixels: nothing from the original's .info (EXIF, XMP, ICC,
    # comments, which Pillow's JPEG writer would otherwise carry over) comes along.
    clean = Image.new("RGB", pixels.size)
    clean.paste(pixels)
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=QUALITY, optimize=True)
    return Scrubbed(out.getvalue(), clean.width, clean.height)


def _fit(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Return (width, height) scaled so the long side is at most ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rgb(im: Image.Image) -> Image.Image:
    """Return ``im`` as RGB; transparent parts become white, as a viewer would show them."""
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, "white")
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: scale down to 8 bits rather than clip to white.
        return im.point(lambda v: v / 256).convert("L").convert("RGB")
    return im.convert("RGB")
