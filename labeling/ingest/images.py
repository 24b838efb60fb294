"""Validate an uploaded image and make its thumbnail, with Pillow's decompression-bomb guard."""

import io
import warnings
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# Pillow's names of the formats we accept; MPO is how Pillow reads many cameras' JPEGs.
ALLOWED_FORMATS = {
    "JPEG": "jpg",
    "MPO": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "BMP": "bmp",
    "TIFF": "tif",
}
ALLOWED_LABEL = "JPEG, PNG, WebP, BMP or TIFF"
OPENERS = ["JPEG", "PNG", "WEBP", "BMP", "TIFF"]  # the JPEG opener also reads MPO files


# EXIF orientations that turn the picture a quarter: people see it with width and height
# swapped (5 to 8; see ``ImageOps.exif_transpose``).
QUARTER_TURNS = {5, 6, 7, 8}


class ImageRejected(ValueError):
    """The file is not an image we accept; the message says why, for the person uploading."""


@dataclass(frozen=True)
class ImageInfo:
    """``width`` and ``height`` of the image as people see it (EXIF orientation applied),
    the frame boxes are drawn in; the stored file keeps its bytes and its EXIF tag."""

    format: str
    extension: str
    width: int
    height: int
    thumbnail: bytes
    thumbnail_extension: str


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def inspect_image(data: bytes, *, max_bytes: int, max_pixels: int, thumb_size: int) -> ImageInfo:
    """Check that ``data`` is a whole image of an allowed format within the limits.

    Pillow's own guard (``Image.MAX_IMAGE_PIXELS``) is set once from settings at start-up
    (``LabelingConfig.ready``); ``max_pixels`` is checked here too, before decoding.
    Reads the header first, so a decompression bomb is refused before any pixel is decoded,
    then decodes fully so that a truncated or corrupt file is caught here and not later.
    """
    if len(data) > max_bytes:
        raise ImageRejected(
            f"file is {human_bytes(len(data))}, over the limit of {human_bytes(max_bytes)}"
        )
    if not data:
        raise ImageRejected("file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=OPENERS) as image:
                fmt = image.format or ""
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageRejected(
                        f"image is too large: {width}x{height} pixels, "
                        f"over the limit of {max_pixels:,}"
                    )
                image.load()
                if image.getexif().get(ExifTags.Base.Orientation) in QUARTER_TURNS:
                    width, height = height, width
                thumbnail, thumb_ext = _thumbnail(image, thumb_size)
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"image is too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(f"not a recognised image; allowed formats are {ALLOWED_LABEL}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected(f"image data is broken or truncated ({exc})") from exc
    return ImageInfo(
        format="JPEG" if fmt == "MPO" else fmt,
        extension=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        thumbnail=thumbnail,
        thumbnail_extension=thumb_ext,
    )


def _thumbnail(image: Image.Image, size: int) -> tuple[bytes, str]:
    """A thumbnail that fits in ``size`` pixels; small images stay sharp as PNG."""
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L"):
        if "A" in image.getbands() or image.mode == "P":
            rgba = image.convert("RGBA")
            background = Image.new("RGB", rgba.size, "white")
            background.paste(rgba, mask=rgba.getchannel("A"))
            image = background
        else:
            image = image.convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    if max(image.size) <= 128:
        image.save(buffer, "PNG", optimize=True)
        return buffer.getvalue(), "png"
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue(), "jpg"
