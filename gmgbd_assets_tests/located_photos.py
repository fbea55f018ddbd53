"""Photos that say where they were taken, as phones write them, and the check that a stored photo no longer does.

``located_jpeg`` carries the place in every container a JPEG has for it: the EXIF GPS block, XMP, an IPTC record
(APP13), a comment, a JFXX thumbnail segment, a FlashPix (APP2) segment and a second picture with its own EXIF after the
end-of-image marker. It is turned by EXIF Orientation 6 (rotate 90 degrees clockwise to display).
"""

from __future__ import annotations

import io
import struct

from PIL import ExifTags, Image

PLACE = b"Cape Town"
LATITUDE = (33.0, 55.0, 29.4)
LONGITUDE = (18.0, 24.0, 50.8)
ORIENTATION = 6
# Bytes that only the location-bearing containers hold: none may be left in a stored photo.
LOCATION_MARKERS = (PLACE, b"GPS", b"http://ns.adobe.com/xap/1.0/", b"Photoshop 3.0", b"8BIM", b"JFXX", b"FPXR\x00")


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _exif_with_gps() -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = ORIENTATION
    exif[ExifTags.Base.Make] = "Phone"
    exif[ExifTags.Base.ImageDescription] = PLACE.decode()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = LONGITUDE
    return exif


def picture(width: int = 64, height: int = 48) -> Image.Image:
    """A picture with detail in it, so that its pixels tell one encoding from another."""
    img = Image.new("RGB", (width, height), (30, 140, 60))
    for x in range(width):
        img.putpixel((x, x * height // width), (250, 250, 0))
    return img


def located_jpeg(width: int = 64, height: int = 48, **save: object) -> bytes:
    """A JPEG that gives its place away in every metadata container (see the module docstring)."""
    buf = io.BytesIO()
    xmp = b"<x:xmpmeta><exif:GPSLatitude>33,55.49S</exif:GPSLatitude><photoshop:City>Cape Town</photoshop:City>"
    picture(width, height).save(
        buf, "JPEG", exif=_exif_with_gps(), xmp=xmp + b"</x:xmpmeta>", comment=b"taken in " + PLACE, **save
    )
    data = buf.getvalue()
    iptc = b"\x1c\x02\x5a" + struct.pack(">H", len(PLACE)) + PLACE  # IPTC 2:90, City
    extra = (
        _segment(0xED, b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc)
        + _segment(0xE0, b"JFXX\x00\x10" + PLACE)
        + _segment(0xE2, b"FPXR\x00" + PLACE)
    )
    second = io.BytesIO()
    picture(8, 8).save(second, "JPEG", exif=_exif_with_gps())
    app0_end = 4 + struct.unpack(">H", data[4:6])[0]  # Pillow writes JFIF APP0 first
    return data[:app0_end] + extra + data[app0_end:] + second.getvalue()


def location_left(data: bytes) -> list[str]:
    """What in ``data`` still says where the photo was taken: empty for a clean photo."""
    left = [repr(marker) for marker in LOCATION_MARKERS if marker in data]
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        if set(exif) - {ExifTags.Base.Orientation}:
            left.append(f"EXIF tags {sorted(set(exif) - {ExifTags.Base.Orientation})}")
        if exif.get_ifd(ExifTags.IFD.GPSInfo):
            left.append("EXIF GPS block")
        left += [f"Pillow info {key!r}" for key in ("xmp", "photoshop", "comment") if key in img.info]
    if not data.endswith(b"\xff\xd9"):
        left.append("bytes after the end-of-image marker")
    return left


def orientation(data: bytes) -> int | None:
    with Image.open(io.BytesIO(data)) as img:
        return img.getexif().get(ExifTags.Base.Orientation)


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.tobytes()
