"""inspect_image: what a person uploading an image sees accepted or refused, and why."""

import io

import pytest
from PIL import Image

from labeling.ingest.images import ALLOWED_LABEL, ImageRejected, inspect_image

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 10_000_000, "thumb_size": 64}


def inspect(data: bytes, **overrides):
    return inspect_image(data, **{**LIMITS, **overrides})


@pytest.mark.parametrize(
    ("fmt", "expected_format", "extension"),
    [
        ("JPEG", "JPEG", "jpg"),
        ("PNG", "PNG", "png"),
        ("WEBP", "WEBP", "webp"),
        ("BMP", "BMP", "bmp"),
        ("TIFF", "TIFF", "tif"),
    ],
)
def test_allowed_formats_are_accepted_with_their_size(image_bytes, fmt, expected_format, extension):
    # given an image of an allowed format, 40 wide and 30 high
    data = image_bytes(fmt, size=(40, 30))

    # when it is inspected
    info = inspect(data)

    # then it is accepted with its format, extension and dimensions
    assert (info.format, info.extension) == (expected_format, extension)
    assert (info.width, info.height) == (40, 30)
    assert Image.open(io.BytesIO(info.thumbnail)).size == (40, 30)


def test_empty_file_is_rejected():
    with pytest.raises(ImageRejected, match="empty"):
        inspect(b"")


def test_bytes_that_are_not_an_image_are_rejected_naming_the_allowed_formats():
    with pytest.raises(ImageRejected) as excinfo:
        inspect(b"%PDF-1.7 this is a document, not a picture")

    assert ALLOWED_LABEL in str(excinfo.value)
    assert "JPEG" in str(excinfo.value) and "PNG" in str(excinfo.value)


def test_gif_is_not_an_allowed_format(image_bytes):
    with pytest.raises(ImageRejected) as excinfo:
        inspect(image_bytes("GIF"))

    assert ALLOWED_LABEL in str(excinfo.value)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_rejected_as_broken(image_bytes, fmt):
    # given the first half of a real image (a download cut short)
    data = image_bytes(fmt, size=(64, 64), noise=True)
    truncated = data[: len(data) // 2]

    # then it is refused, not stored to fail later
    with pytest.raises(ImageRejected, match="broken or truncated"):
        inspect(truncated)


def test_file_over_the_byte_limit_is_rejected_with_both_sizes(image_bytes):
    data = image_bytes("BMP", size=(32, 32))  # an uncompressed 3 KB file

    with pytest.raises(ImageRejected, match=r"over the limit of 1\.0 KB"):
        inspect(data, max_bytes=1024)


def test_decompression_bomb_is_refused_before_decoding(image_bytes):
    # given a PNG of 3000x3000 pixels of one colour: a few KB on disk, 27 MB decoded
    data = image_bytes("PNG", size=(3000, 3000), color=(0, 0, 0))
    assert len(data) < 100_000

    # when the pixel limit is far below that
    with pytest.raises(ImageRejected, match="too large"):
        inspect(data, max_pixels=100_000)


def test_image_just_over_the_pixel_limit_is_refused(image_bytes):
    # Pillow only warns (not errors) between 1x and 2x its limit: that must still refuse.
    data = image_bytes("PNG", size=(110, 100))

    with pytest.raises(ImageRejected):
        inspect(data, max_pixels=10_000)


def test_image_at_the_pixel_limit_is_accepted(image_bytes):
    info = inspect(image_bytes("PNG", size=(100, 100)), max_pixels=10_000)

    assert (info.width, info.height) == (100, 100)


@pytest.mark.parametrize("thumb_size", [64, 256])
def test_thumbnail_fits_the_thumbnail_size_and_keeps_the_aspect_ratio(image_bytes, thumb_size):
    info = inspect(image_bytes("PNG", size=(1200, 600)), thumb_size=thumb_size)

    thumbnail = Image.open(io.BytesIO(info.thumbnail))
    assert thumbnail.size == (thumb_size, thumb_size // 2)
    assert info.thumbnail_extension in {"png", "jpg"}


def test_transparent_image_gets_a_white_thumbnail_background():
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    info = inspect(buffer.getvalue())

    assert Image.open(io.BytesIO(info.thumbnail)).convert("RGB").getpixel((0, 0)) == (
        255,
        255,
        255,
    )


@pytest.mark.parametrize(("orientation", "seen"), [(1, (40, 20)), (3, (40, 20)), (6, (20, 40))])
def test_the_size_is_the_one_people_see_after_the_exif_orientation(orientation, seen):
    # given a JPEG stored 40 wide and 20 high whose EXIF says how to turn it for viewing
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    Image.new("RGB", (40, 20), "red").save(out, "JPEG", exif=exif.tobytes())

    # when it is inspected
    info = inspect(out.getvalue())

    # then width and height are those of the picture as shown (boxes are fractions of them)
    assert (info.width, info.height) == seen
    thumbnail = Image.open(io.BytesIO(info.thumbnail)).size
    assert (thumbnail[0] > thumbnail[1]) == (seen[0] > seen[1])
