"""jpeg_metadata: every container that can say where a photo was taken is removed, the pixels and the Orientation
stay exactly as they were."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from gmgbd_assets.media.jpeg_metadata import (
    JpegStructureError,
    exif_orientation,
    orientation_segment,
    strip_location_metadata,
)
from gmgbd_assets_tests.located_photos import (
    ORIENTATION,
    located_jpeg,
    location_left,
    orientation,
    picture,
    pixels,
)

SAMPLE_PHOTOS = Path(__file__).resolve().parents[1] / "data" / "sample" / "photos"


def _jpeg(img: Image.Image, **save: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **save)
    return buf.getvalue()


def _with_exif(data: bytes, tiff: bytes) -> bytes:
    """``data`` with an APP1 EXIF segment holding ``tiff`` right after SOI."""
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def _tiff_orientation(value: int, order: str) -> bytes:
    mark = b"II" if order == "<" else b"MM"
    ifd = struct.pack(f"{order}HHHIHHI", 1, 0x0112, 3, 1, value, 0, 0)
    return mark + struct.pack(f"{order}HI", 42, 8) + ifd


@pytest.mark.parametrize(
    "encoding",
    [{}, {"progressive": True}, {"restart_marker_blocks": 3}, {"progressive": True, "restart_marker_blocks": 2}],
    ids=["baseline", "progressive", "restart markers", "progressive with restart markers"],
)
def test_every_location_container_goes_and_the_pixels_stay(encoding):
    located = located_jpeg(**encoding)
    assert len(location_left(located)) >= 8  # the fixture does carry the place everywhere
    stripped = strip_location_metadata(located)
    assert location_left(stripped) == []
    assert pixels(stripped) == pixels(located)
    assert orientation(stripped) == ORIENTATION
    assert strip_location_metadata(stripped) is stripped  # nothing left to remove


def test_the_image_data_is_copied_byte_for_byte():
    located = located_jpeg()
    stripped = strip_location_metadata(located)
    scan = located.index(b"\xff\xda")
    first_picture_end = located.index(b"\xff\xd9", scan) + 2
    assert stripped.endswith(located[scan:first_picture_end])


@pytest.mark.parametrize("order", ["<", ">"], ids=["little-endian", "big-endian"])
@pytest.mark.parametrize("value", range(1, 9))
def test_the_orientation_is_kept_alone(value, order):
    located = _with_exif(_jpeg(picture()), _tiff_orientation(value, order))
    stripped = strip_location_metadata(located)
    # 1 is upright, the default: no EXIF is needed to say so.
    assert orientation(stripped) == (value if value != 1 else None)
    assert stripped.count(b"Exif\x00\x00") == (value != 1)
    assert pixels(stripped) == pixels(located)


def test_orientation_segment_is_minimal_exif():
    segment = orientation_segment(8)
    assert segment[:2] == b"\xff\xe1" and len(segment) == 36
    assert exif_orientation(segment[10:]) == 8


@pytest.mark.parametrize(
    "tiff",
    [
        b"",
        b"XX\x00\x2a\x00\x00\x00\x08",
        b"MM\x00\x2a\xff\xff\xff\xff",
        _tiff_orientation(9, ">"),
        _tiff_orientation(6, ">")[:14],
    ],
    ids=["empty", "no byte order", "IFD past the end", "out of range", "cut off"],
)
def test_an_unreadable_orientation_is_dropped(tiff):
    assert exif_orientation(tiff) is None
    stripped = strip_location_metadata(_with_exif(_jpeg(picture()), tiff))
    assert b"Exif" not in stripped and orientation(stripped) is None


def test_a_clean_photo_comes_back_as_the_same_bytes():
    photos = [p.read_bytes() for p in sorted(SAMPLE_PHOTOS.glob("*.jpg"))]
    whole = [d for d in photos if d.endswith(b"\xff\xd9")]
    assert len(whole) >= 100
    assert all(strip_location_metadata(d) is d for d in whole)


def test_colour_information_is_kept():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 3
    rgb = _jpeg(picture(), icc_profile=icc, exif=exif)
    stripped = strip_location_metadata(rgb + b"trailer")
    with Image.open(io.BytesIO(stripped)) as img:
        assert img.info["icc_profile"] == icc
    cmyk = _jpeg(picture().convert("CMYK"), comment=b"Cape Town")  # Pillow writes the Adobe APP14 for CMYK
    stripped = strip_location_metadata(cmyk)
    assert b"Adobe" in stripped and b"Cape Town" not in stripped
    assert pixels(stripped) == pixels(cmyk)


def test_stray_bytes_between_segments_are_dropped():
    data = _jpeg(picture(), comment=b"x")
    com = data.index(b"\xff\xfe")
    junk = data[:com] + b"\x00junk\xff" + data[com:]
    stripped = strip_location_metadata(junk)
    assert b"junk" not in stripped and pixels(stripped) == pixels(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe1\x10\x00Exif",
        b"\xff\xd8\xff\xe1\x00",
        b"\xff\xd8\xff\xe1\x00\x01\x00\x00",
        _jpeg(picture())[:-200],
    ],
    ids=["empty", "PNG", "segment past the end", "length cut off", "length below 2", "no end of image"],
)
def test_bytes_that_are_not_a_whole_jpeg_are_refused(data):
    with pytest.raises(JpegStructureError):
        strip_location_metadata(data)
